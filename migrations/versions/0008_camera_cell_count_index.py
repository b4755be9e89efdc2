"""a narrow index of the cameras' cells: the geo search counts the cameras of whole cells from it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cameras_cell_paused", "cameras", ["geo_cell", "paused_at"])


def downgrade() -> None:
    op.drop_index("ix_cameras_cell_paused", table_name="cameras")
