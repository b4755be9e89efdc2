"""evidence clips: resumable uploads for footage requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 20:20:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_clips",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("expected_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_evidence_clips_agency_id_agencies"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_evidence_clips_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["footage_requests.id"],
            name=op.f("fk_evidence_clips_request_id_footage_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_clips")),
    )
    with op.batch_alter_table("evidence_clips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_clips_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_clips_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_clips_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_clips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_clips_request_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_clips_owner_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_clips_agency_id"))
    op.drop_table("evidence_clips")
