"""camera geo index: each camera filed under its grid cell, for the search near an incident

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 08:46:50.449290
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.registry.geo import cell_id

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_cameras = sa.table(
    "cameras",
    sa.column("id", sa.Uuid()),
    sa.column("latitude", sa.Float()),
    sa.column("longitude", sa.Float()),
    sa.column("geo_cell", sa.BigInteger()),
)
_BATCH = 10_000


def _fill_geo_cells() -> None:
    """Cameras registered before this revision get their cell, in batches walked along the primary key."""
    connection = op.get_bind()
    update = sa.update(_cameras).where(_cameras.c.id == sa.bindparam("camera_id")).values(geo_cell=sa.bindparam("cell"))
    query = sa.select(_cameras.c.id, _cameras.c.latitude, _cameras.c.longitude).order_by(_cameras.c.id).limit(_BATCH)
    rows = connection.execute(query).all()
    while rows:
        connection.execute(
            update, [{"camera_id": row.id, "cell": cell_id(row.latitude, row.longitude)} for row in rows]
        )
        rows = connection.execute(query.where(_cameras.c.id > rows[-1].id)).all()


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geo_cell", sa.BigInteger(), nullable=True))
    _fill_geo_cells()
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.alter_column("geo_cell", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(
            "ix_cameras_geo_cell",
            [
                "geo_cell",
                "paused_at",
                "latitude",
                "longitude",
                "id",
                "site_id",
                "name",
                "bearing_deg",
                "field_of_view_deg",
                "range_m",
                "placement",
                "recorder",
                "retention_days",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index("ix_cameras_geo_cell")
        batch_op.drop_column("geo_cell")
