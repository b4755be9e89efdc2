"""District announcements: a coordinator writes to the district's joined members (all, or those who have not reached
a funnel step yet); each gets an in-app notification and a push (the district-announcement kind, which they can mute
per device), and opens it in the app. Only members who are JOINED with an account linked receive anything: listed,
pending and left members never do, and the delivered and read counts are of members who are still joined (a member
who left is "left" to the coordinator, and nothing more).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta
from sqlalchemy import ColumnElement, and_, case, distinct, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.db import utcnow
from backend.districts.models import (
    ANNOUNCEMENT_BODY_MAX,
    ANNOUNCEMENT_TITLE_MAX,
    Audience,
    District,
    DistrictAnnouncement,
    DistrictMember,
    MemberStatus,
)
from backend.districts.service import Step, coordinated_district, step_dates
from backend.errors import InvalidInput, NotFound, TooManyAttempts
from backend.local_time import local_time
from backend.notifications.models import Kind, Notification
from backend.notifications.service import Message, mark_subject_read, notify_many
from backend.validation import label
from push.models import Channel, Delivery, DeliveryStatus, PushSubscription
from push.payload import topic_for

# At most this many announcements per district in any 24 hours: members hear from their district, not a stream.
ANNOUNCEMENTS_PER_DAY = 3
LIMIT_WINDOW = dt.timedelta(hours=24)
PAGE_SIZE = 20
NOTIFICATION_TITLE_MAX = 120  # notifications.title
NOTIFICATION_BODY_MAX = 300  # notifications.body: the push shows the start; the member's page the whole text

AUDIENCE_LABELS = {
    Audience.ALL: "All joined members",
    Audience.NO_SITE: "Joined members who have not registered a site yet",
    Audience.NO_CAMERAS: "Joined members who have not registered cameras yet",
    Audience.NO_DEVICE: "Joined members who have not paired a device yet",
}
_AUDIENCE_STEP = {Audience.NO_SITE: Step.SITE, Audience.NO_CAMERAS: Step.CAMERAS, Audience.NO_DEVICE: Step.DEVICE}

NO_ANNOUNCEMENT = "No such announcement"


# --- what goes in and out of the API ---------------------------------------------------------------------------

Title = Annotated[str, Meta(min_length=1, max_length=ANNOUNCEMENT_TITLE_MAX, pattern=r"\S"), label("Title")]
Body = Annotated[str, Meta(min_length=1, max_length=ANNOUNCEMENT_BODY_MAX, pattern=r"\S"), label("Message")]


class AnnouncementIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new announcement; fields in the order of the coordinator's form."""

    title: Title
    body: Body
    audience: Annotated[Audience, label("Send to")]


class AudienceOut(msgspec.Struct, kw_only=True):
    audience: Audience
    label: str
    members: int  # how many joined members it reaches now


class AnnouncementOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    title: str
    body: str
    audience: Audience
    audience_label: str
    created_at: dt.datetime
    recipients: int  # members it was sent to
    delivered: int  # members at least one of whose devices' push services accepted it
    read: int  # members who opened it


class AnnouncementList(msgspec.Struct, kw_only=True):
    items: list[AnnouncementOut]
    next_before: uuid.UUID | None  # pass as `before` for older ones; None: no more
    limit_per_day: int
    remaining_now: int  # how many more may be sent now
    next_allowed_at: dt.datetime | None  # when the next may be sent, if none may be now


class MemberAnnouncementOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    district: str
    title: str
    body: str
    created_at: dt.datetime


# --- the coordinator's side ---------------------------------------------------------------------------------------


def tag_of(announcement_id: uuid.UUID) -> str:
    """The tag of an announcement's notifications: read and delivered are counted from it."""
    return f"announcement:{announcement_id}"


def member_path(announcement_id: uuid.UUID) -> str:
    return f"/announcements/{announcement_id}"


def _reachable(district_id: uuid.UUID) -> list[ColumnElement[bool]]:
    """Members who can receive an announcement: joined, with an owner account linked."""
    return [
        DistrictMember.district_id == district_id,
        DistrictMember.status == MemberStatus.JOINED.value,
        DistrictMember.user_id.is_not(None),
    ]


def _still_joined(district_id: uuid.UUID, user_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """Join condition: the person `user_id` is a joined member of the district now."""
    return and_(*_reachable(district_id), DistrictMember.user_id == user_id)


def _in_audience(audience: Audience) -> ColumnElement[bool]:
    step = _AUDIENCE_STEP.get(audience)
    return true() if step is None else step_dates()[step].is_(None)


async def audiences(db: AsyncSession, coordinator: User) -> list[AudienceOut]:
    """How many joined members each audience reaches now (one query)."""
    district = await coordinated_district(db, coordinator)
    counts = (
        await db.execute(
            select(
                *(func.coalesce(func.sum(case((_in_audience(a), 1), else_=0)), 0).label(a.value) for a in Audience)
            ).where(*_reachable(district.id))
        )
    ).one()
    return [AudienceOut(audience=a, label=AUDIENCE_LABELS[a], members=int(getattr(counts, a.value))) for a in Audience]


class AnnouncementLimitReached(TooManyAttempts):
    title = "Announcement limit reached"


async def _sent_in_window(db: AsyncSession, district_id: uuid.UUID, now: dt.datetime) -> list[dt.datetime]:
    return list(
        await db.scalars(
            select(DistrictAnnouncement.created_at)
            .where(
                DistrictAnnouncement.district_id == district_id, DistrictAnnouncement.created_at > now - LIMIT_WINDOW
            )
            .order_by(DistrictAnnouncement.created_at)
        )
    )


def _next_allowed(sent: list[dt.datetime]) -> dt.datetime | None:
    """When the oldest of the last few leaves the 24-hour window (None: one may be sent now)."""
    return sent[-ANNOUNCEMENTS_PER_DAY] + LIMIT_WINDOW if len(sent) >= ANNOUNCEMENTS_PER_DAY else None


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def send_announcement(db: AsyncSession, coordinator: User, data: AnnouncementIn) -> AnnouncementOut:
    """Send to the audience's joined members: the announcement and every notification (in-app, and a push to each
    device that has not muted the kind) in one transaction. Over the district's limit, or with nobody in the
    audience, nothing is saved and nothing sent."""
    district = await coordinated_district(db, coordinator)
    # One send at a time per district (PostgreSQL locks the row; SQLite writes one at a time anyway), so two sends
    # at once cannot both pass the limit.
    await db.execute(select(District.id).where(District.id == district.id).with_for_update())
    now = utcnow()
    if next_at := _next_allowed(await _sent_in_window(db, district.id, now)):
        raise AnnouncementLimitReached(
            f"A district sends at most {ANNOUNCEMENTS_PER_DAY} announcements in 24 hours. The next can be sent after "
            f"{local_time(next_at, coordinator.time_zone)}.",
            retry_after_seconds=int((next_at - now).total_seconds()) + 1,
        )
    user_ids = list(
        await db.scalars(select(DistrictMember.user_id).where(*_reachable(district.id), _in_audience(data.audience)))
    )
    if not user_ids:
        raise InvalidInput(
            {
                "audience": f"Send to: nobody is in this audience now ({AUDIENCE_LABELS[data.audience].lower()}), "
                "so nobody would receive it. Choose another audience."
            }
        )
    announcement = DistrictAnnouncement(
        district_id=district.id, author_id=coordinator.id, title=data.title.strip(), body=data.body.strip(),
        audience=data.audience.value, recipients=len(user_ids), created_at=now,
    )  # fmt: skip
    db.add(announcement)
    await db.flush()
    title = _shortened(f"{district.name}: {announcement.title}", NOTIFICATION_TITLE_MAX)
    body = _shortened(announcement.body, NOTIFICATION_BODY_MAX)
    tag, navigate = tag_of(announcement.id), member_path(announcement.id)
    await notify_many(db, Kind.DISTRICT_ANNOUNCEMENT, [Message(uid, title, body, navigate, tag) for uid in user_ids])
    await db.commit()
    return _out(announcement, delivered=0, read=0)


def _out(announcement: DistrictAnnouncement, *, delivered: int, read: int) -> AnnouncementOut:
    audience = Audience(announcement.audience)
    return AnnouncementOut(
        id=announcement.id, title=announcement.title, body=announcement.body, audience=audience,
        audience_label=AUDIENCE_LABELS[audience], created_at=announcement.created_at,
        recipients=announcement.recipients, delivered=delivered, read=read,
    )  # fmt: skip


async def _with_counts(
    db: AsyncSession, district_id: uuid.UUID, announcements: list[DistrictAnnouncement]
) -> list[AnnouncementOut]:
    """Delivered: members for whom the push service of at least one of their devices accepted the notification (a
    device removed since no longer counts). Read: members who opened it, in the app or from the push. Both count
    only people who are joined members now: of a member who left, the coordinator learns nothing more."""
    tags = {tag_of(a.id): a.id for a in announcements}
    topics = {topic_for(tag): announcement_id for tag, announcement_id in tags.items()}
    read = dict(
        (
            await db.execute(
                select(Notification.tag, func.count())
                .join(DistrictMember, _still_joined(district_id, Notification.user_id))
                .where(Notification.tag.in_(tags), Notification.read_at.is_not(None))
                .group_by(Notification.tag)
            )
        ).all()
    )
    delivered = dict(
        (
            await db.execute(
                select(Delivery.topic, func.count(distinct(PushSubscription.user_id)))
                .join(PushSubscription, PushSubscription.id == Delivery.subscription_id)
                .join(DistrictMember, _still_joined(district_id, PushSubscription.user_id))
                .where(
                    Delivery.topic.in_(topics),
                    Delivery.channel == Channel.PUSH.value,
                    Delivery.status == DeliveryStatus.DELIVERED.value,
                )
                .group_by(Delivery.topic)
            )
        ).all()
    ) if topics else {}  # fmt: skip
    delivered_by_id = {topics[topic]: count for topic, count in delivered.items()}
    return [_out(a, delivered=delivered_by_id.get(a.id, 0), read=read.get(tag_of(a.id), 0)) for a in announcements]


async def list_announcements(db: AsyncSession, coordinator: User, before: uuid.UUID | None = None) -> AnnouncementList:
    """The district's announcements, newest first, a page at a time (`before`: the last one of the previous page;
    another district's id is NotFound)."""
    district = await coordinated_district(db, coordinator)
    query = select(DistrictAnnouncement).where(DistrictAnnouncement.district_id == district.id)
    if before is not None:
        cursor = await _announcement_of(db, district.id, before)
        query = query.where(
            or_(
                DistrictAnnouncement.created_at < cursor.created_at,
                and_(DistrictAnnouncement.created_at == cursor.created_at, DistrictAnnouncement.id < cursor.id),
            )
        )
    rows = list(
        await db.scalars(
            query.order_by(DistrictAnnouncement.created_at.desc(), DistrictAnnouncement.id.desc()).limit(PAGE_SIZE + 1)
        )
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    sent = await _sent_in_window(db, district.id, utcnow())
    return AnnouncementList(
        items=await _with_counts(db, district.id, rows),
        next_before=rows[-1].id if more else None,
        limit_per_day=ANNOUNCEMENTS_PER_DAY,
        remaining_now=max(0, ANNOUNCEMENTS_PER_DAY - len(sent)),
        next_allowed_at=_next_allowed(sent),
    )


async def _announcement_of(
    db: AsyncSession, district_id: uuid.UUID, announcement_id: uuid.UUID
) -> DistrictAnnouncement:
    found = await db.scalar(
        select(DistrictAnnouncement).where(
            DistrictAnnouncement.id == announcement_id, DistrictAnnouncement.district_id == district_id
        )
    )
    if found is None:
        raise NotFound(NO_ANNOUNCEMENT)
    return found


async def get_announcement(db: AsyncSession, coordinator: User, announcement_id: uuid.UUID) -> AnnouncementOut:
    """One of the district's announcements with its counts; another district's is NotFound."""
    district = await coordinated_district(db, coordinator)
    [found] = await _with_counts(db, district.id, [await _announcement_of(db, district.id, announcement_id)])
    return found


# --- the member's side ----------------------------------------------------------------------------------------------


async def open_announcement(db: AsyncSession, user: User, announcement_id: uuid.UUID) -> MemberAnnouncementOut:
    """An announcement the person received (they have its notification; anyone else: NotFound). Opening it marks
    its notification read."""
    tag = tag_of(announcement_id)
    received = await db.scalar(
        select(Notification.id).where(Notification.user_id == user.id, Notification.tag == tag).limit(1)
    )
    found = await db.execute(
        select(DistrictAnnouncement, District.name)
        .join(District, District.id == DistrictAnnouncement.district_id)
        .where(DistrictAnnouncement.id == announcement_id)
    )
    row = found.first()
    if received is None or row is None:
        raise NotFound(NO_ANNOUNCEMENT)
    announcement, district = row
    if await mark_subject_read(db, user.id, tag):
        await db.commit()
    return MemberAnnouncementOut(
        id=announcement.id, district=district, title=announcement.title, body=announcement.body,
        created_at=announcement.created_at,
    )  # fmt: skip
