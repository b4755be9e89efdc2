from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, enum_check, utcnow, uuid_pk

# Limits shared by the schemas (what a request may carry) and the tables (what may be stored).
BUSINESS_NAME_MAX = 200
CONTACT_NAME_MAX = 100
EMAIL_MAX = 254
PHONE_MAX = 40
ADDRESS_MAX = 300
ANNOUNCEMENT_TITLE_MAX = 80
ANNOUNCEMENT_BODY_MAX = 1000
IMPORT_MAX_BYTES = 2 * 1024 * 1024  # a roster CSV upload


class District(Base):
    """A business improvement district whose coordinators onboard member businesses."""

    __tablename__ = "districts"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The district's outline as a GeoJSON Polygon geometry ({"type": "Polygon", "coordinates": [[[lon, lat], ...]]}),
    # or None when an administrator has not drawn one.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The district-wide invite link (for a meeting): part of what its token signs, so raising it retires every
    # printed copy at once. Off: the link answers that it no longer works.
    join_link_version: Mapped[int] = mapped_column(Integer, default=1)
    join_link_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MemberStatus(enum.StrEnum):
    LISTED = "listed"  # on the roster (imported or added); no account linked yet
    PENDING = "pending"  # joined through the district-wide link; waits for the coordinator's approval
    JOINED = "joined"  # an owner account is linked (through a personal invite, or approved)
    LEFT = "left"  # the member left: the coordinator sees that, and nothing more from then on


class MemberSource(enum.StrEnum):
    IMPORT = "import"  # a roster CSV
    MANUAL = "manual"  # added one by one by a coordinator
    DISTRICT_LINK = "district_link"  # an owner who joined through the district-wide link


class DistrictMember(Base):
    """A member business on a district's roster: what the district knows of it (given by the member to the district,
    or typed by its coordinator), its personal invite, and the owner account it is linked to once joined."""

    __tablename__ = "district_members"
    __table_args__ = (
        enum_check("status", MemberStatus, "status_known"),
        enum_check("source", MemberSource, "source_known"),
        # The roster's identity of a business: its normalised email, else its normalised name and address. An import
        # matches rows on it, so importing the same file twice changes nothing.
        UniqueConstraint("district_id", "match_key", name="uq_district_members_match_key"),
        UniqueConstraint("district_id", "user_id", name="uq_district_members_user"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
        # The roster pages through members in name order.
        Index("ix_district_members_district_name", "district_id", "business_name", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=MemberStatus.LISTED.value)
    source: Mapped[str] = mapped_column(String(15), default=MemberSource.MANUAL.value)
    business_name: Mapped[str] = mapped_column(String(BUSINESS_NAME_MAX))
    contact_name: Mapped[str] = mapped_column(String(CONTACT_NAME_MAX), default="")
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    phone: Mapped[str] = mapped_column(String(PHONE_MAX), default="")
    address: Mapped[str] = mapped_column(String(ADDRESS_MAX), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    match_key: Mapped[str] = mapped_column(String(EMAIL_MAX + ADDRESS_MAX + BUSINESS_NAME_MAX))
    # The owner account once the member joined; None while listed, and again after they left.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The personal invite: its token signs (member id, invite_version), so raising the version revokes every copy
    # (emailed or printed). Valid until invite_expires_at, for one account (used once the member joined).
    invite_version: Mapped[int] = mapped_column(Integer, default=1)
    invited_at: Mapped[dt.datetime | None]  # first sent or printed: the first step of the funnel
    invite_expires_at: Mapped[dt.datetime | None]
    invite_revoked_at: Mapped[dt.datetime | None]
    last_emailed_at: Mapped[dt.datetime | None]  # the last invite email (a nudge is rate-limited on it)
    emails_sent: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[dt.datetime | None]
    left_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Audience(enum.StrEnum):
    """Which joined members an announcement goes to (the funnel step they have not reached yet, or all)."""

    ALL = "all"
    NO_SITE = "no_site"
    NO_CAMERAS = "no_cameras"
    NO_DEVICE = "no_device"


class DistrictAnnouncement(Base):
    """A short message from a coordinator to the district's joined members: in-app and by push (the
    district-announcement notification kind, which members can mute). Its notifications carry the tag
    `announcement:<id>`, from which delivered and read are counted."""

    __tablename__ = "district_announcements"
    __table_args__ = (
        enum_check("audience", Audience, "audience_known"),
        Index("ix_district_announcements_district_created", "district_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(ANNOUNCEMENT_TITLE_MAX))
    body: Mapped[str] = mapped_column(String(ANNOUNCEMENT_BODY_MAX))
    audience: Mapped[str] = mapped_column(String(15))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DistrictImport(Base):
    """A roster CSV between its preview and its confirm (an hour at most): kept in the database, not on one app
    process's disk, so the confirm may reach any process behind the load balancer."""

    __tablename__ = "district_imports"
    __table_args__ = (
        CheckConstraint(f"length(content) <= {IMPORT_MAX_BYTES}", name="content_size"),
        Index("ix_district_imports_district_created", "district_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    # Who uploaded it; any coordinator of the district may confirm it.
    coordinator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
