"""cameras' unit vectors: the geo search measures, counts and orders by the chord in SQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.registry.geo import unit_vector

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_cameras = sa.table(
    "cameras",
    sa.column("id", sa.Uuid()),
    sa.column("latitude", sa.Float()),
    sa.column("longitude", sa.Float()),
    sa.column("unit_x", sa.Float()),
    sa.column("unit_y", sa.Float()),
    sa.column("unit_z", sa.Float()),
)
_BATCH = 10_000
_AXES = ("unit_x", "unit_y", "unit_z")
_OLD_INDEX = [
    "geo_cell", "paused_at", "latitude", "longitude", "id", "site_id", "name", "bearing_deg", "field_of_view_deg",
    "range_m", "placement", "recorder", "retention_days",
]  # fmt: skip
_NEW_INDEX = [
    "geo_cell", "paused_at", "unit_x", "unit_y", "unit_z", "latitude", "longitude", "id", "site_id", "name",
    "bearing_deg", "field_of_view_deg", "range_m", "placement", "recorder", "retention_days",
]  # fmt: skip


def _fill_unit_vectors() -> None:
    """Cameras registered before this revision get their unit vector, in batches walked along the primary key."""
    connection = op.get_bind()
    update = (
        sa.update(_cameras)
        .where(_cameras.c.id == sa.bindparam("camera_id"))
        .values({axis: sa.bindparam(f"v_{axis}") for axis in _AXES})
    )
    query = sa.select(_cameras.c.id, _cameras.c.latitude, _cameras.c.longitude).order_by(_cameras.c.id).limit(_BATCH)
    rows = connection.execute(query).all()
    while rows:
        connection.execute(
            update,
            [
                {
                    "camera_id": row.id,
                    **{f"v_{a}": v for a, v in zip(_AXES, unit_vector(row.latitude, row.longitude), strict=True)},
                }
                for row in rows
            ],
        )
        rows = connection.execute(query.where(_cameras.c.id > rows[-1].id)).all()


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        for axis in _AXES:
            batch_op.add_column(sa.Column(axis, sa.Float(), nullable=True))
    _fill_unit_vectors()
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        for axis in _AXES:
            batch_op.alter_column(axis, existing_type=sa.Float(), nullable=False)
        batch_op.drop_index("ix_cameras_geo_cell")
        batch_op.create_index("ix_cameras_geo_cell", _NEW_INDEX, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index("ix_cameras_geo_cell")
        batch_op.create_index("ix_cameras_geo_cell", _OLD_INDEX, unique=False)
        for axis in reversed(_AXES):
            batch_op.drop_column(axis)
