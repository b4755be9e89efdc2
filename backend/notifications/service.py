"""Notifications: every one is an in-app item; pushes to the person's devices go out through the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Uuid, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend import pagination
from backend.db import utcnow
from backend.errors import Conflict, InvalidInput, NotFound
from backend.hot_reads import HotRead
from backend.notifications.models import Kind, Notification
from backend.notifications.schemas import NotificationList, NotificationOut, SubscriptionIn, SubscriptionOut
from push import outbox
from push.models import Channel, Delivery, DeliveryStatus, PushSubscription
from push.payload import declarative_payload, topic_for
from push.subscription import auth_problem, endpoint_problem, p256dh_problem


@dataclass(frozen=True)
class KindRule:
    label: str
    ttl_seconds: int  # how long a push service may hold the message for a phone that is off
    urgency: str  # RFC 8030: "high" wakes a sleeping phone at once


KIND_RULES = {
    Kind.FOOTAGE_REQUEST: KindRule("Footage requests", 48 * 3600, "high"),
    Kind.REQUEST_REMINDER: KindRule("Request reminders", 24 * 3600, "normal"),
    Kind.SHARE_NOW: KindRule("Share-now updates", 3600, "high"),
    Kind.DEVICE_STATUS: KindRule("Edge-device status", 3600, "normal"),
    Kind.DISTRICT_ANNOUNCEMENT: KindRule("District announcements", 72 * 3600, "low"),
    Kind.POLICE_ACCESS: KindRule("Police access to your information", 24 * 3600, "normal"),
    Kind.TEST: KindRule("Test notifications", 600, "normal"),
}
# Kinds a person can switch off per device (a test notification is always wanted: it was asked for).
SWITCHABLE_KINDS = [k for k in Kind if k is not Kind.TEST]
LIST_LIMIT = 50


async def unread_counts(db: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Unread in-app notifications per person (people with none are absent)."""
    rows = await db.execute(
        select(Notification.user_id, func.count())
        .where(Notification.user_id.in_(set(user_ids)), Notification.read_at.is_(None))
        .group_by(Notification.user_id)
    )
    return dict(rows.all())


# How many of a person's notifications are unread (its own FROM, never correlated to an enclosing query's).
_UNREAD_COUNT = (
    select(func.count())
    .select_from(Notification.__table__)
    .where(
        Notification.__table__.c.user_id == bindparam("user_id", type_=Uuid),
        Notification.__table__.c.read_at.is_(None),
    )
    .correlate(None)
    .scalar_subquery()
)
_UNREAD = HotRead(select(_UNREAD_COUNT), _UNREAD_COUNT)


async def unread_count(db: AsyncSession, user_id: uuid.UUID) -> int:
    """The count beside "Notifications" in every page's header."""
    ((count,),) = await _UNREAD.rows(db, user_id=user_id)
    return count


@dataclass(frozen=True)
class Message:
    """One notification for one person. No case details: they stay behind sign-in."""

    user_id: uuid.UUID
    title: str
    body: str
    navigate: str
    tag: str
    topic: str | None = None  # RFC 8030 Topic; by default one derived from the tag (push.payload.topic_for)


async def notify_many(
    db: AsyncSession, kind: Kind, messages: Sequence[Message], *, devices: Sequence[PushSubscription] | None = None
) -> None:
    """Record each notification in its person's in-app list and queue a push to each of their devices that
    wants this kind (or only to `devices`), in a few statements however many people there are.

    Nothing is committed here: the rows join the transaction of the event that caused them.
    """
    if not messages:
        return
    now = utcnow()
    await db.execute(
        insert(Notification),
        [
            {
                "id": uuid.uuid4(),
                "user_id": m.user_id,
                "kind": kind.value,
                "title": m.title,
                "body": m.body,
                "navigate": m.navigate,
                "tag": m.tag,
                "created_at": now,
            }
            for m in messages
        ],  # fmt: skip
    )
    user_ids = {m.user_id for m in messages}
    if devices is None:
        devices = (await db.scalars(select(PushSubscription).where(PushSubscription.user_id.in_(user_ids)))).all()
    by_user: dict[uuid.UUID, list[PushSubscription]] = defaultdict(list)
    for device in devices:
        if kind not in device.muted_kinds:
            by_user[device.user_id].append(device)
    if not by_user:
        return
    unread = await unread_counts(db, by_user)
    outgoing = []
    for m in messages:
        payload = declarative_payload(
            title=m.title, body=m.body, navigate=m.navigate, tag=m.tag, app_badge=unread.get(m.user_id, 0)
        )
        topic = m.topic or topic_for(m.tag)
        outgoing += [outbox.Outgoing(device.id, payload, topic) for device in by_user.get(m.user_id, [])]
    rule = KIND_RULES[kind]
    await outbox.enqueue(db, outgoing, ttl_seconds=rule.ttl_seconds, urgency=rule.urgency)


async def notify(db: AsyncSession, kind: Kind, message: Message) -> None:
    """One notification for one person (see notify_many)."""
    await notify_many(db, kind, [message])


def _latest(after_cursor: bool) -> HotRead:
    """A page of a person's notifications, newest first, with their unread count on each row (no row: no
    notifications, so none unread); after the cursor's key if `after_cursor`. One round trip, on the driver
    (hot_reads): plain rows go straight into the answer."""
    table = Notification.__table__
    query = select(*table.c, _UNREAD_COUNT.label("unread")).where(table.c.user_id == bindparam("user_id", type_=Uuid))
    if after_cursor:
        query = query.where(pagination.older_than(table.c.created_at, table.c.id, (bindparam("at"), bindparam("id"))))
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(LIST_LIMIT + 1)
    return HotRead(query, table.c, query.selected_columns.unread)


_LATEST = {after: _latest(after) for after in (False, True)}


async def list_notifications(db: AsyncSession, user_id: uuid.UUID, before: str | None = None) -> NotificationList:
    """A page of the person's in-app list, newest first (`before`: the cursor of the page before it)."""
    key = pagination.decode(before, uuid.UUID)
    params = {"user_id": user_id, **({"at": key[0], "id": key[1]} if key else {})}
    rows = await _LATEST[key is not None].rows(db, **params)
    page = pagination.page_of(rows, LIST_LIMIT, lambda row: (row[0].created_at, row[0].id))
    return NotificationList(
        unread=rows[0][1] if rows else await unread_count(db, user_id),
        next_cursor=page.next_cursor,
        items=[
            NotificationOut(
                id=n.id,
                kind=Kind(n.kind),
                title=n.title,
                body=n.body,
                navigate=n.navigate,
                created_at=n.created_at,
                read=n.read_at is not None,
            )  # fmt: skip
            for n, _unread in page.items
        ],
    )


async def mark_read(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID | None = None) -> None:
    """Mark one notification (or, without an id, all of them) as read."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        if (
            await db.scalar(
                select(Notification.id).where(Notification.id == notification_id, Notification.user_id == user_id)
            )
            is None
        ):
            raise NotFound("No such notification among yours")
        query = query.where(Notification.id == notification_id)
    await db.execute(query.values(read_at=utcnow()).execution_options(synchronize_session=False))
    await db.commit()


async def mark_subject_read(db: AsyncSession, user_id: uuid.UUID, tag: str) -> bool:
    """The person opened or answered what these notifications are about (their tag names it: a request, a clip's
    case, police accesses): they are read. In the caller's transaction; says whether any was unread."""
    done = await db.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.tag == tag, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount > 0


async def open_notification(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> str:
    """The person opens one of their notifications: it is read (once: a second opening keeps the first time), and
    they go where it points."""
    navigate = await db.scalar(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_at=func.coalesce(Notification.read_at, utcnow()))
        .returning(Notification.navigate)
        .execution_options(synchronize_session=False)
    )
    if navigate is None:
        raise NotFound("No such notification among yours")
    await db.commit()
    return navigate if navigate.startswith("/") and not navigate.startswith("//") else "/notifications"


# --- devices (push subscriptions) -------------------------------------------------------------------------

_BROWSERS = [
    ("Edg/", "Edge"),
    ("SamsungBrowser", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def device_name(user_agent: str) -> str:
    """A name a person recognises, e.g. "Chrome on Android", from the browser's user agent."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "Browser")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    return f"{browser} on {system}" if system else browser


def _subscription_out(s: PushSubscription, session_id: uuid.UUID | None) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        name=s.name,
        muted_kinds=[Kind(k) for k in s.muted_kinds],
        created_at=s.created_at,
        last_delivered_at=s.last_delivered_at,
        this_browser=session_id is not None and s.session_id == session_id,
    )


def _check(data: SubscriptionIn, allowed_hosts: Iterable[str]) -> None:
    errors = {}
    if problem := endpoint_problem(data.endpoint, allowed_hosts):
        errors["endpoint"] = f"Endpoint {problem}"
    if problem := p256dh_problem(data.keys.p256dh):
        errors["keys.p256dh"] = f"keys.p256dh {problem}"
    if problem := auth_problem(data.keys.auth):
        errors["keys.auth"] = f"keys.auth {problem}"
    if errors:
        raise InvalidInput(errors)


def _take_keys(subscription: PushSubscription, data: SubscriptionIn) -> None:
    """Copy what the browser sent (endpoint, keys, expiry in epoch milliseconds) onto the record."""
    subscription.endpoint = data.endpoint
    subscription.p256dh = data.keys.p256dh
    subscription.auth = data.keys.auth
    expires = data.expirationTime
    subscription.expiration_time = None if expires is None else dt.datetime.fromtimestamp(expires / 1000, tz=dt.UTC)


async def save_subscription(
    db: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    data: SubscriptionIn,
    *,
    user_agent: str,
    allowed_hosts: Iterable[str],
) -> SubscriptionOut:
    """One subscription per browser: subscribing again (even as another person) replaces the old record."""
    _check(data, allowed_hosts)
    existing = await db.scalar(select(PushSubscription).where(PushSubscription.endpoint == data.endpoint))
    if existing is not None and existing.user_id != user_id:
        await db.delete(existing)  # the browser changed hands: the previous person must not get pushes here
        await db.flush()
        existing = None
    if existing is None:
        existing = PushSubscription(
            user_id=user_id, endpoint=data.endpoint, name=device_name(user_agent), muted_kinds=[]
        )
        db.add(existing)
    existing.session_id = session_id
    _take_keys(existing, data)
    try:
        await db.commit()
    except IntegrityError as exc:  # the same browser subscribed twice at once
        await db.rollback()
        raise Conflict("This browser was just subscribed; reload the page") from exc
    return _subscription_out(existing, session_id)


async def replace_subscription(
    db: AsyncSession, old_endpoint: str, old_auth: str, data: SubscriptionIn, *, allowed_hosts: Iterable[str]
) -> None:
    """The browser renewed its subscription (pushsubscriptionchange): keep the record, swap the keys."""
    _check(data, allowed_hosts)
    existing = await db.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == old_endpoint, PushSubscription.auth == old_auth)
    )
    if existing is None:
        raise NotFound("No such subscription")
    _take_keys(existing, data)
    await db.commit()


async def list_subscriptions(
    db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> list[SubscriptionOut]:
    rows = await db.scalars(
        select(PushSubscription).where(PushSubscription.user_id == user_id).order_by(PushSubscription.created_at)
    )
    return [_subscription_out(s, session_id) for s in rows]


async def _own_subscription(db: AsyncSession, user_id: uuid.UUID, subscription_id: uuid.UUID) -> PushSubscription:
    found = await db.scalar(
        select(PushSubscription).where(PushSubscription.id == subscription_id, PushSubscription.user_id == user_id)
    )
    if found is None:
        raise NotFound("No such device among yours")
    return found


async def update_subscription(
    db: AsyncSession,
    user_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    name: str | None = None,
    muted_kinds: Iterable[Kind] | None = None,
) -> SubscriptionOut:
    found = await _own_subscription(db, user_id, subscription_id)
    if name is not None:
        if not name.strip():
            raise InvalidInput({"name": "Device name must not be blank"})
        found.name = name.strip()[:100]
    if muted_kinds is not None:
        found.muted_kinds = sorted({Kind(k).value for k in muted_kinds if Kind(k) is not Kind.TEST})
    await db.commit()
    return _subscription_out(found, None)


async def delete_subscription(db: AsyncSession, user_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    await db.delete(await _own_subscription(db, user_id, subscription_id))
    await db.commit()


async def send_test(db: AsyncSession, user_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    """A test push to one device (and an in-app item, like every notification)."""
    device = await _own_subscription(db, user_id, subscription_id)
    message = Message(
        user_id, "Porchlight test", f"Notifications work on {device.name}.", "/notifications",
        f"test-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    await notify_many(db, Kind.TEST, [message], devices=[device])
    await db.commit()


@dataclass(frozen=True)
class FailedDelivery:
    created_at: dt.datetime
    attempts: int
    last_error: str
    device: str
    endpoint_host: str


async def delivery_report(db: AsyncSession, limit: int = 50) -> tuple[dict[str, int], list[FailedDelivery]]:
    """For administrators: outbox rows (push and email) by status, and the latest deliveries that were given up on
    (an email shows no address: the outbox forgets it once it gives up)."""
    counts = dict((await db.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all())
    failed = await db.execute(
        select(Delivery, PushSubscription.name, PushSubscription.endpoint)
        .outerjoin(PushSubscription, PushSubscription.id == Delivery.subscription_id)
        .where(Delivery.status == DeliveryStatus.FAILED)
        .order_by(Delivery.created_at.desc())
        .limit(limit)
    )
    return (
        {status.value: counts.get(status.value, 0) for status in DeliveryStatus},
        [
            FailedDelivery(
                created_at=row.created_at,
                attempts=row.attempts,
                last_error=row.last_error,
                device=name if row.channel == Channel.PUSH else "Email",
                endpoint_host=(urlsplit(endpoint).hostname or "") if endpoint else "SMTP server",
            )  # fmt: skip
            for row, name, endpoint in failed
        ],
    )
