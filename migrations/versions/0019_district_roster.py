"""district roster: members, invites, announcements, district boundary

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district_announcements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column("audience", sa.String(length=15), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "audience IN ('all', 'no_site', 'no_cameras', 'no_device')",
            name=op.f("ck_district_announcements_audience_known"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_district_announcements_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_district_announcements_district_id_districts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_announcements")),
    )
    with op.batch_alter_table("district_announcements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_district_announcements_author_id"), ["author_id"], unique=False)
        batch_op.create_index("ix_district_announcements_district_created", ["district_id", "created_at"], unique=False)

    op.create_table(
        "district_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=15), nullable=False),
        sa.Column("business_name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("match_key", sa.String(length=754), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("invite_version", sa.Integer(), nullable=False),
        sa.Column("invited_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("invite_expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("invite_revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_emailed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("emails_sent", sa.Integer(), nullable=False),
        sa.Column("joined_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("left_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('import', 'manual', 'district_link')", name=op.f("ck_district_members_source_known")
        ),
        sa.CheckConstraint(
            "status IN ('listed', 'pending', 'joined', 'left')", name=op.f("ck_district_members_status_known")
        ),
        sa.CheckConstraint(
            "latitude IS NULL OR latitude BETWEEN -90 AND 90", name=op.f("ck_district_members_latitude_range")
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR longitude BETWEEN -180 AND 180", name=op.f("ck_district_members_longitude_range")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_district_members_district_id_districts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_district_members_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_members")),
        sa.UniqueConstraint("district_id", "match_key", name="uq_district_members_match_key"),
        sa.UniqueConstraint("district_id", "user_id", name="uq_district_members_user"),
    )
    with op.batch_alter_table("district_members", schema=None) as batch_op:
        batch_op.create_index("ix_district_members_district_name", ["district_id", "business_name", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_district_members_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boundary", sa.JSON(), nullable=True))
        # Districts made before this revision get a working district-wide link.
        batch_op.add_column(sa.Column("join_link_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("join_link_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.alter_column("join_link_version", server_default=None)
        batch_op.alter_column("join_link_enabled", server_default=None)

    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("share_on_alert_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
    # Devices that already share on alert: since they were paired, the nearest date known.
    op.execute("UPDATE edge_devices SET share_on_alert_since = COALESCE(paired_at, created_at) WHERE share_on_alert")


def downgrade() -> None:
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.drop_column("share_on_alert_since")

    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.drop_column("join_link_enabled")
        batch_op.drop_column("join_link_version")
        batch_op.drop_column("boundary")

    with op.batch_alter_table("district_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_district_members_user_id"))
        batch_op.drop_index("ix_district_members_district_name")

    op.drop_table("district_members")
    with op.batch_alter_table("district_announcements", schema=None) as batch_op:
        batch_op.drop_index("ix_district_announcements_district_created")
        batch_op.drop_index(batch_op.f("ix_district_announcements_author_id"))

    op.drop_table("district_announcements")
