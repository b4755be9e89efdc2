from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, enum_check, utcnow, uuid_pk
from backend.requests.states import RequestState, Side


class RequestType(enum.StrEnum):
    VOLUNTARY = "voluntary"
    WARRANT = "warrant"
    EMERGENCY = "emergency"


REQUEST_TYPE_LABELS = {
    RequestType.VOLUNTARY: "Voluntary request",
    RequestType.WARRANT: "Warrant or court order",
    RequestType.EMERGENCY: "Emergency",
}


class QuickReply(enum.StrEnum):
    NO_FOOTAGE = "no_footage"
    NOT_RECORDING = "not_recording"
    NOT_COVERED = "not_covered"
    NEED_MORE_INFO = "need_more_info"
    DECLINE = "decline"


class Answer(enum.StrEnum):
    """What an owner can answer: share clips, or one of the quick replies."""

    ACCEPT = "accept"
    NO_FOOTAGE = QuickReply.NO_FOOTAGE.value
    NOT_RECORDING = QuickReply.NOT_RECORDING.value
    NOT_COVERED = QuickReply.NOT_COVERED.value
    NEED_MORE_INFO = QuickReply.NEED_MORE_INFO.value
    DECLINE = QuickReply.DECLINE.value


QUICK_REPLY_LABELS = {
    QuickReply.NO_FOOTAGE: "No footage of that time",
    QuickReply.NOT_RECORDING: "Camera was not recording",
    QuickReply.NOT_COVERED: "Doesn't cover that area",
    QuickReply.NEED_MORE_INFO: "Need more information",
    QuickReply.DECLINE: "Decline",
}


class CustodyAction(enum.StrEnum):
    REQUEST_SENT = "request_sent"
    CONTACT_VIEWED = "contact_viewed"
    UPLOAD = "upload"
    VIEW = "view"
    DOWNLOAD = "download"
    # Share now: the live desk opened an owner's live video, said "I'm watching", asked for more time.
    LIVE_VIEW = "live_view"
    LIVE_ACKNOWLEDGED = "live_acknowledged"
    LIVE_MORE_TIME = "live_more_time"


class FootageRequest(Base):
    """One agency's request to one owner for video of an incident, naming that owner's cameras."""

    __tablename__ = "footage_requests"
    __table_args__ = (
        enum_check("state", RequestState, "state_known"),
        enum_check("request_type", RequestType, "request_type_known"),
        enum_check("waiting_on", Side, "waiting_on_known"),
        Index("ix_footage_requests_open_deadline", "state", "deadline_at"),
        # The owner's and the agency's lists page through these newest first (backend/pagination.py).
        Index("ix_footage_requests_owner_created", "owner_id", "created_at", "id"),
        Index("ix_footage_requests_agency_created", "agency_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    investigator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # None once the owner deleted their account: a request they sent clips for stays with its case.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    case_number: Mapped[str] = mapped_column(String(50), index=True)
    request_type: Mapped[str] = mapped_column(String(20))
    incident_latitude: Mapped[float] = mapped_column(Float)
    incident_longitude: Mapped[float] = mapped_column(Float)
    incident_address: Mapped[str] = mapped_column(String(300), default="")
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    message: Mapped[str] = mapped_column(String(2000), default="")
    deadline_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(20), default=RequestState.SENT)
    reply: Mapped[str | None] = mapped_column(String(20))
    reply_message: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    # Whose turn it is in the request's conversation: the investigator's after the owner wrote, the owner's after
    # the investigator did; None when nobody's (no message yet, or the owner answered since).
    waiting_on: Mapped[str | None] = mapped_column(String(20))

    cameras: Mapped[list[RequestedCamera]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin", order_by="RequestedCamera.name"
    )


class RequestedCamera(Base):
    """A camera named in a request, with what the owner had registered when it was sent."""

    __tablename__ = "requested_cameras"

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("footage_requests.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # no FK: the camera may be deleted later
    name: Mapped[str] = mapped_column(String(100))
    retention_days: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float] = mapped_column(Float)


class RequestMessage(Base):
    """One message of a request's conversation between its owner and its agency's investigators, in order."""

    __tablename__ = "request_messages"
    __table_args__ = (
        enum_check("author", Side, "author_known"),
        Index("ix_request_messages_request_created", "request_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("footage_requests.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # An investigator's name as the owner reads it; empty for the owner (their name reaches an agency only through
    # the contact card, whose opening is recorded).
    author_name: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the other side first opened the request after this message.
    read_at: Mapped[dt.datetime | None]


class CustodyEvent(Base):
    """Append-only: every police access to an owner's data and every evidence event, with who, when, where.

    Each row is chained to the previous one of its agency by SHA-256 (requests.audit). The ids of people, requests
    and shares are kept as they were, without foreign keys: a row is never changed, not even when what it names is
    deleted (an owner's account, an investigator's, a share)."""

    __tablename__ = "custody_events"
    __table_args__ = (
        enum_check("action", CustodyAction, "action_known"),
        Index("ix_custody_events_owner_at", "owner_id", "at"),
        Index("ix_custody_events_agency_case", "agency_id", "case_number"),
        Index("ix_custody_events_agency_chain", "agency_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    owner_id: Mapped[uuid.UUID | None]
    request_id: Mapped[uuid.UUID | None]
    share_id: Mapped[uuid.UUID | None]
    case_number: Mapped[str] = mapped_column(String(50), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class EvidenceClip(Base):
    """A video file an owner sends for a request. Uploaded resumably (tus); once complete it is write-once:
    its SHA-256 is fixed and the file is never changed (the owner may send another, and add a note)."""

    __tablename__ = "evidence_clips"

    id: Mapped[uuid.UUID] = uuid_pk()
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("footage_requests.id", ondelete="CASCADE"), index=True)
    # None once the owner deleted their account: a received clip is evidence and stays with its case.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # The SHA-256 (hex) the sending app said the file has; checked when the last byte arrives.
    expected_sha256: Mapped[str] = mapped_column(String(64), default="")
    # Computed by the server while the bytes streamed in; set when the upload is complete.
    sha256: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]


class AccessReceipt(Base):
    """How far the owner has been told of police accesses to their information (receipts are batched)."""

    __tablename__ = "access_receipts"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # The last custody event the owner was told of, and when the last receipt went out.
    last_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_sent_at: Mapped[dt.datetime | None]
