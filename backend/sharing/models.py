"""A share (an owner's live video to the program's live desk), its cameras and who watched it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, enum_check, utcnow, uuid_pk

NOTE_MAX = 300


class ShareState(enum.StrEnum):
    REQUESTED = "requested"  # started; no camera is sending yet
    LIVE = "live"  # at least one camera has sent video to the relay
    ENDED = "ended"


# The only moves the service makes; anything else is a 409.
TRANSITIONS: dict[ShareState, frozenset[ShareState]] = {
    ShareState.REQUESTED: frozenset({ShareState.LIVE, ShareState.ENDED}),
    ShareState.LIVE: frozenset({ShareState.ENDED}),
    ShareState.ENDED: frozenset(),
}
OPEN_STATES = frozenset({ShareState.REQUESTED, ShareState.LIVE})


class Trigger(enum.StrEnum):
    APP = "app"
    BUTTON = "button"  # the box's panic button, with "share on alert" allowed


class EndReason(enum.StrEnum):
    OWNER = "owner"
    EXPIRED = "expired"
    DEVICE_REMOVED = "device_removed"


END_REASON_TEXT = {
    EndReason.OWNER: "ended by the owner",
    EndReason.EXPIRED: "the time ran out",
    EndReason.DEVICE_REMOVED: "the owner removed the device",
}


class ShareSession(Base):
    __tablename__ = "share_sessions"
    __table_args__ = (
        enum_check("state", ShareState, "state_known"),
        enum_check("trigger", Trigger, "trigger_known"),
        enum_check("end_reason", EndReason, "end_reason_known"),
        Index("ix_share_sessions_state_ends", "state", "ends_at"),
        Index("ix_share_sessions_agency_state", "agency_id", "state"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The program's agency, whose live desk sees the share.
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10))
    trigger: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[dt.datetime]
    live_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))
    # The first "I'm watching" from the desk, and whether the owner was told nobody had answered in time.
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    unwatched_told_at: Mapped[dt.datetime | None]
    # The desk asked for more time; only the owner's yes extends the share.
    extension_asked_at: Mapped[dt.datetime | None]
    extension_asked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    extension_minutes: Mapped[int | None] = mapped_column(Integer)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    # The STUN/TURN servers the program configured when the share started (TURN credentials may be per share).
    ice_servers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    cameras: Mapped[list[ShareCamera]] = relationship(
        back_populates="share", cascade="all, delete-orphan", passive_deletes=True, order_by="ShareCamera.name"
    )


class ShareCamera(Base):
    """One camera of a share: the device that sends it, and since when the relay receives it."""

    __tablename__ = "share_cameras"

    id: Mapped[uuid.UUID] = uuid_pk()
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_sessions.id", ondelete="CASCADE"), index=True)
    # Kept when the device goes (the share's history stays); a share camera without a device sends nothing.
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("edge_devices.id", ondelete="SET NULL"), index=True)
    device_camera_key: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    publishing_since: Mapped[dt.datetime | None]

    share: Mapped[ShareSession] = relationship(back_populates="cameras")


class ShareViewer(Base):
    """A live-desk operator playing a share's camera (one row per WHEP session): the owner's "who is watching"."""

    __tablename__ = "share_viewers"
    __table_args__ = (Index("ix_share_viewers_share_opened", "share_id", "opened_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_sessions.id", ondelete="CASCADE"))
    share_camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_cameras.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    display_name: Mapped[str] = mapped_column(String(100))
    agency_name: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
