"""district imports: a roster CSV waits in the database between its preview and its confirm

Any app process can confirm it, not only the one whose disk it would otherwise be on.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("coordinator_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("length(content) <= 2097152", name=op.f("ck_district_imports_content_size")),
        sa.ForeignKeyConstraint(
            ["coordinator_id"], ["users.id"], name=op.f("fk_district_imports_coordinator_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_district_imports_district_id_districts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_imports")),
    )
    with op.batch_alter_table("district_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_district_imports_coordinator_id"), ["coordinator_id"], unique=False)
        batch_op.create_index("ix_district_imports_district_created", ["district_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("district_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_district_imports_district_created")
        batch_op.drop_index(batch_op.f("ix_district_imports_coordinator_id"))

    op.drop_table("district_imports")
