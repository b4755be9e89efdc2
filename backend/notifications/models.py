from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, enum_check, utcnow, uuid_pk


class Kind(enum.StrEnum):
    FOOTAGE_REQUEST = "footage_request"
    REQUEST_REMINDER = "request_reminder"
    SHARE_NOW = "share_now"
    DEVICE_STATUS = "device_status"
    DISTRICT_ANNOUNCEMENT = "district_announcement"
    POLICE_ACCESS = "police_access"  # a receipt: police opened the owner's contact card, a clip, live video
    TEST = "test"


class Notification(Base):
    """One item in a person's in-app notification list: the record, whether or not a push arrived."""

    __tablename__ = "notifications"
    __table_args__ = (
        enum_check("kind", Kind, "kind_known"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(300))
    navigate: Mapped[str] = mapped_column(String(300))
    tag: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
