"""edge devices: pairing codes and wrong codes typed, devices with their reported health and desired state, device cameras, outages, events

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "edge_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("paired_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("alerts_muted", sa.Boolean(), nullable=False),
        sa.Column("last_heartbeat_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("offline_after", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("agent_version", sa.String(length=40), nullable=False),
        sa.Column("uptime_s", sa.BigInteger(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("clock_offset_s", sa.Float(), nullable=True),
        sa.Column("health", sa.JSON(), nullable=False),
        sa.Column("cameras_digest", sa.String(length=64), nullable=False),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("reported_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("alert_window_start", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("alerts_in_window", sa.Integer(), nullable=False),
        sa.Column("alerted_status", sa.String(length=10), nullable=True),
        sa.Column("alert_pending", sa.Boolean(), nullable=False),
        sa.CheckConstraint("status IN ('pairing', 'online', 'offline')", name=op.f("ck_edge_devices_status_known")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_edge_devices_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_edge_devices_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_devices")),
        sa.UniqueConstraint("credential_hash", name=op.f("uq_edge_devices_credential_hash")),
    )
    if op.get_bind().dialect.name == "postgresql":  # heartbeats update rows in place when their page has room
        op.execute("ALTER TABLE edge_devices SET (fillfactor = 70)")
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edge_devices_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_edge_devices_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            "ix_edge_devices_alert_pending", ["alert_window_start"], unique=False,
            postgresql_where=sa.text("alert_pending"), sqlite_where=sa.text("alert_pending"),
        )  # fmt: skip

    op.create_table(
        "device_cameras",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("silent_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("alert_window_start", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("alerts_in_window", sa.Integer(), nullable=False),
        sa.Column("alerted_status", sa.String(length=10), nullable=True),
        sa.Column("alert_pending", sa.Boolean(), nullable=False),
        sa.CheckConstraint("status IN ('pairing', 'online', 'offline')", name=op.f("ck_device_cameras_status_known")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_device_cameras_camera_id_cameras"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["edge_devices.id"],
            name=op.f("fk_device_cameras_device_id_edge_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_cameras")),
        sa.UniqueConstraint("device_id", "key", name=op.f("uq_device_cameras_device_id")),
    )
    with op.batch_alter_table("device_cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_cameras_camera_id"), ["camera_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_cameras_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_cameras_silent_since"), ["silent_since"], unique=False)
        batch_op.create_index(
            "ix_device_cameras_alert_pending", ["alert_window_start"], unique=False,
            postgresql_where=sa.text("alert_pending"), sqlite_where=sa.text("alert_pending"),
        )  # fmt: skip

    op.create_table(
        "device_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("occurred_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("received_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.CheckConstraint("kind IN ('button_press')", name=op.f("ck_device_events_kind_known")),
        sa.ForeignKeyConstraint(
            ["device_id"], ["edge_devices.id"], name=op.f("fk_device_events_device_id_edge_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
    )
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_events_device_id"), ["device_id"], unique=False)

    op.create_table(
        "pairing_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=8), nullable=False),
        sa.Column("agent_version", sa.String(length=40), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("consumed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["edge_devices.id"], name=op.f("fk_pairing_codes_device_id_edge_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_codes")),
        sa.UniqueConstraint("device_code_hash", name=op.f("uq_pairing_codes_device_code_hash")),
        sa.UniqueConstraint("user_code", name=op.f("uq_pairing_codes_user_code")),
    )
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pairing_codes_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "device_outages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("device_camera_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ended_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_camera_id"],
            ["device_cameras.id"],
            name=op.f("fk_device_outages_device_camera_id_device_cameras"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["edge_devices.id"],
            name=op.f("fk_device_outages_device_id_edge_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_outages")),
    )
    with op.batch_alter_table("device_outages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_outages_device_camera_id"), ["device_camera_id"], unique=False)
        batch_op.create_index("ix_device_outages_device_started", ["device_id", "started_at"], unique=False)

    op.create_table(
        "pairing_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pairing_failures_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_failures")),
    )
    with op.batch_alter_table("pairing_failures", schema=None) as batch_op:
        batch_op.create_index("ix_pairing_failures_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pairing_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_pairing_failures_user_at")

    op.drop_table("pairing_failures")
    with op.batch_alter_table("device_outages", schema=None) as batch_op:
        batch_op.drop_index("ix_device_outages_device_started")
        batch_op.drop_index(batch_op.f("ix_device_outages_device_camera_id"))

    op.drop_table("device_outages")
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairing_codes_expires_at"))

    op.drop_table("pairing_codes")
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_events_device_id"))

    op.drop_table("device_events")
    with op.batch_alter_table("device_cameras", schema=None) as batch_op:
        batch_op.drop_index("ix_device_cameras_alert_pending")
        batch_op.drop_index(batch_op.f("ix_device_cameras_silent_since"))
        batch_op.drop_index(batch_op.f("ix_device_cameras_device_id"))
        batch_op.drop_index(batch_op.f("ix_device_cameras_camera_id"))

    op.drop_table("device_cameras")
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.drop_index("ix_edge_devices_alert_pending")
        batch_op.drop_index(batch_op.f("ix_edge_devices_site_id"))
        batch_op.drop_index(batch_op.f("ix_edge_devices_owner_id"))

    op.drop_table("edge_devices")
