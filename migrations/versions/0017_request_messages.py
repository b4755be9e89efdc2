"""request messages: a conversation per footage request between its owner and its agency, and whose turn it is

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:30:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("footage_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiting_on", sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_footage_requests_waiting_on_known"), "waiting_on IN ('owner', 'investigator')"
        )
    op.create_table(
        "request_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("read_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint("author IN ('owner', 'investigator')", name=op.f("ck_request_messages_author_known")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_request_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["footage_requests.id"],
            name=op.f("fk_request_messages_request_id_footage_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_messages")),
    )
    with op.batch_alter_table("request_messages", schema=None) as batch_op:
        batch_op.create_index("ix_request_messages_request_created", ["request_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("request_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_request_messages_request_created")
    op.drop_table("request_messages")
    with op.batch_alter_table("footage_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_footage_requests_waiting_on_known"), type_="check")
        batch_op.drop_column("waiting_on")
