"""The outbox tables: a browser's push subscription, and the deliveries (push messages and emails) to send.

They share the application's declarative base (infrastructure, not a domain); users and sessions are
referred to by table name only.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, enum_check, utcnow, uuid_pk


class Channel(enum.StrEnum):
    PUSH = "push"  # to a browser's push subscription
    EMAIL = "email"  # to an email address, over SMTP


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker until lease_until
    DELIVERED = "delivered"  # the push service answered 201
    FAILED = "failed"  # gave up after the last attempt; shown to admins


class PushSubscription(Base):
    """One browser's push subscription, tied to the sign-in session that created it."""

    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Signing out on that browser deletes the session and, with it, the subscription.
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    # Notification kinds the owner switched off for this device.
    muted_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    expiration_time: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_delivered_at: Mapped[dt.datetime | None]


class Delivery(Base):
    """The outbox: one row per message per recipient (a push subscription or an email address), written in the
    event's own transaction, sent by the delivery worker outside it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        enum_check("status", DeliveryStatus, "status_known"),
        enum_check("channel", Channel, "channel_known"),
        CheckConstraint(
            "(channel = 'push' AND subscription_id IS NOT NULL) OR (channel = 'email' AND recipient IS NOT NULL)",
            name="has_recipient",
        ),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(10), default=Channel.PUSH)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True
    )
    # An email's address, kept only until it is sent or given up on (the outbox is not a record of addresses).
    recipient: Mapped[str | None] = mapped_column(String(320))
    # The person an email is for, if they have an account: deleting the account deletes what is still unsent.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Push: the declarative payload (JSON). Email: the message as JSON (subject, text, message id).
    payload: Mapped[str] = mapped_column(Text)
    ttl_seconds: Mapped[int] = mapped_column(Integer)
    urgency: Mapped[str] = mapped_column(String(10))
    topic: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]
