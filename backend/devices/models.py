"""Edge devices ("core" boxes on an owner's network), their cameras, outages, events and pairing codes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, enum_check, utcnow, uuid_pk

DEVICE_NAME_MAX = 100
CAMERA_KEY_MAX = 64


class Status(enum.StrEnum):
    PAIRING = "pairing"  # approved by the owner, first heartbeat not yet received
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceEventKind(enum.StrEnum):
    BUTTON_PRESS = "button_press"


class AlertState:
    """What the owner was last told about a device or a camera, so that flapping gives one summary, not a stream."""

    status: Mapped[str] = mapped_column(String(10))
    status_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The first alert of the current debounce window, how many went out in it, and the status the last one told.
    alert_window_start: Mapped[dt.datetime | None]
    alerts_in_window: Mapped[int] = mapped_column(Integer, default=0)
    alerted_status: Mapped[str | None] = mapped_column(String(10))
    # A change the owner has not been told about yet; the sweeper sums it up when the window ends.
    alert_pending: Mapped[bool] = mapped_column(Boolean, default=False)


def _pending_alerts_index(table: str) -> Index:
    """The sweeper looks for held-back alerts every pass: a partial index keeps that from reading every row."""
    pending = text("alert_pending")
    return Index(f"ix_{table}_alert_pending", "alert_window_start", postgresql_where=pending, sqlite_where=pending)


class EdgeDevice(AlertState, Base):
    __tablename__ = "edge_devices"
    __table_args__ = (
        enum_check("status", Status, "status_known"),
        _pending_alerts_index("edge_devices"),
    )
    # Every heartbeat rewrites its row: migration 0009 leaves room in each page (fillfactor 70 on PostgreSQL) so
    # that it is updated in place (HOT). No index covers a column a heartbeat writes, for the same reason: the
    # offline sweep reads the table instead (about 40 ms for 100,000 devices).

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(DEVICE_NAME_MAX))
    # SHA-256 of the bearer credential; the credential itself is never stored. Empty until the agent collects it.
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    paired_at: Mapped[dt.datetime | None]
    alerts_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    # "Share on alert": a panic-button press starts a share of the device's cameras for this long (off: it only
    # tells the owner).
    share_on_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    # Since when share on alert has been on (None while off): a district's onboarding funnel shows the date.
    share_on_alert_since: Mapped[dt.datetime | None]
    alert_share_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # Written by every heartbeat in one UPDATE: what the box reported (health holds each camera's figures).
    last_heartbeat_at: Mapped[dt.datetime | None]
    # last_heartbeat_at + 3 intervals: the sweeper marks the device offline once this has passed.
    offline_after: Mapped[dt.datetime | None]
    agent_version: Mapped[str] = mapped_column(String(40), default="")
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    clock_offset_s: Mapped[float | None] = mapped_column(Float)
    health: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Which cameras the box reported and whether each had frames: a heartbeat with the same digest touches no
    # camera row.
    cameras_digest: Mapped[str] = mapped_column(String(64), default="")
    # The desired state (shadow): what the box should do, with a version the long-poll compares.
    desired_version: Mapped[int] = mapped_column(Integer, default=1)
    desired: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reported_version: Mapped[int] = mapped_column(Integer, default=0)

    cameras: Mapped[list[DeviceCamera]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True, order_by="DeviceCamera.name"
    )


class DeviceCamera(AlertState, Base):
    """A camera an edge device reads, as the box names it; optionally linked to one of the owner's registered
    cameras."""

    __tablename__ = "device_cameras"
    __table_args__ = (
        UniqueConstraint("device_id", "key"),
        enum_check("status", Status, "status_known"),
        _pending_alerts_index("device_cameras"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("edge_devices.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(CAMERA_KEY_MAX))
    name: Mapped[str] = mapped_column(String(DEVICE_NAME_MAX))
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"), index=True)
    # Since when no frames arrive (the box says so, or it stopped reporting the camera); offline 2 minutes later.
    silent_since: Mapped[dt.datetime | None] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    device: Mapped[EdgeDevice] = relationship(back_populates="cameras")


class DeviceOutage(Base):
    """A stretch of time a device (device_camera_id empty) or one of its cameras was offline."""

    __tablename__ = "device_outages"
    __table_args__ = (Index("ix_device_outages_device_started", "device_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("edge_devices.id", ondelete="CASCADE"))
    device_camera_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("device_cameras.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class DeviceEvent(Base):
    """Something the box reported (a panic-button press starts a share when the owner allowed it)."""

    __tablename__ = "device_events"
    __table_args__ = (enum_check("kind", DeviceEventKind, "kind_known"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("edge_devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    detail: Mapped[str] = mapped_column(String(500), default="")


class PairingCode(Base):
    """An RFC 8628 device authorization: the box holds device_code, the owner types user_code."""

    __tablename__ = "pairing_codes"

    id: Mapped[uuid.UUID] = uuid_pk()
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(8), unique=True)
    agent_version: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    interval_s: Mapped[int] = mapped_column(Integer)
    last_polled_at: Mapped[dt.datetime | None]
    # Set when the owner approves: the device made for it; consumed once the box has collected its credential.
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("edge_devices.id", ondelete="CASCADE"))
    consumed_at: Mapped[dt.datetime | None]


class PairingFailure(Base):
    """An owner typed a code no device shows: counted, so that codes cannot be guessed (RFC 8628 section 5.1)."""

    __tablename__ = "pairing_failures"
    __table_args__ = (Index("ix_pairing_failures_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
