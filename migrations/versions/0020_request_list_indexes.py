"""request list indexes: the owner's and the agency's request lists page newest first by (created_at, id)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("footage_requests", schema=None) as batch_op:
        batch_op.create_index("ix_footage_requests_owner_created", ["owner_id", "created_at", "id"], unique=False)
        batch_op.create_index("ix_footage_requests_agency_created", ["agency_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("footage_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_footage_requests_agency_created")
        batch_op.drop_index("ix_footage_requests_owner_created")
