"""The outbox of push messages and emails: enqueue deliveries in the caller's transaction (which rings the
doorbell of the idle workers when it commits); claim due ones; record what happened."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, and_, any_, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend import listening
from backend.db import utcnow
from push.models import Channel, Delivery, DeliveryStatus, PushSubscription

MAX_ATTEMPTS = 20
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 15 * 60.0
CHANNEL = "porchlight_outbox"


class Doorbell:
    """Wakes the idle delivery workers of this process when deliveries are queued, instead of their next poll.
    On PostgreSQL it follows the channel that a queuing transaction's NOTIFY reaches at commit, in every process
    (backend.listening); on SQLite, where there is one process, the commit rings it directly."""

    channel = CHANNEL

    def __init__(self) -> None:
        self._workers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @contextlib.contextmanager
    def answered_by(self, woken: asyncio.Event) -> Iterator[None]:
        """While the block runs, a ring sets `woken` (in the event loop the block runs in)."""
        worker = (asyncio.get_running_loop(), woken)
        self._workers.add(worker)
        try:
            yield
        finally:
            self._workers.discard(worker)

    def ring(self) -> None:
        for loop, woken in list(self._workers):  # a worker may run in another thread's loop (a test's server)
            loop.call_soon_threadsafe(woken.set)

    def received(self, _payload: str) -> None:
        self.ring()

    def listening(self) -> None:
        self.ring()  # what was queued while not listening is claimed now

    def lost(self) -> None:
        """The workers poll meanwhile."""


DOORBELL = Doorbell()


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds until its lease ends, with what sending it needs: a push subscription's endpoint
    and keys, or an email's address."""

    delivery_id: int
    channel: Channel
    payload: bytes
    ttl_seconds: int
    urgency: str
    topic: str | None
    attempts: int
    created_at: dt.datetime
    subscription_id: uuid.UUID | None = None
    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    recipient: str = ""


@dataclass(frozen=True)
class Outgoing:
    subscription_id: uuid.UUID
    payload: bytes
    topic: str | None = None


async def enqueue(db: AsyncSession, messages: Sequence[Outgoing], *, ttl_seconds: int, urgency: str) -> int:
    """Add the deliveries to the caller's transaction in one statement (they commit with the event)."""
    if ttl_seconds <= 0:
        raise ValueError("TTL must be positive: 0 lets push services drop a message for a sleeping phone")
    if messages:
        await db.execute(
            insert(Delivery),
            [
                {
                    "subscription_id": m.subscription_id,
                    "payload": m.payload.decode(),
                    "ttl_seconds": ttl_seconds,
                    "urgency": urgency,
                    "topic": m.topic,
                }
                for m in messages
            ],  # fmt: skip
        )
        await listening.announce(db, CHANNEL, [""], DOORBELL.ring)  # the idle workers claim them at once
    return len(messages)


async def enqueue_email(
    db: AsyncSession, *, recipient: str, message: bytes, user_id: uuid.UUID | None, ttl_seconds: int
) -> None:
    """Add an email to the caller's transaction: it is sent only if the event commits, and given up on (failed)
    if it cannot be sent within `ttl_seconds`. `user_id`: the account it is for, if any (its deletion deletes it)."""
    db.add(
        Delivery(
            channel=Channel.EMAIL, recipient=recipient, user_id=user_id, payload=message.decode(),
            ttl_seconds=ttl_seconds, urgency="normal",
        )
    )  # fmt: skip
    await listening.announce(db, CHANNEL, [""], DOORBELL.ring)  # the idle workers claim them at once


async def claim(
    db: AsyncSession, *, limit: int, lease: dt.timedelta, channels: Sequence[Channel] = tuple(Channel)
) -> list[Claimed]:
    """Take up to `limit` due deliveries on `channels` (pending and due, or whose worker's lease ran out) with what
    sending them needs, and commit: the caller sends them holding no transaction.

    On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent workers never take the same row.
    """
    now = utcnow()
    due = and_(
        or_(
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
        ),
        Delivery.channel.in_(channels),
    )
    # A plain read first: an idle worker polls often and should not take the (SQLite) write lock to find nothing.
    if await db.scalar(select(Delivery.id).where(due).limit(1)) is None:
        await db.rollback()
        return []
    due_ids = (
        select(Delivery.id)
        .where(due)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        await db.execute(
            update(Delivery)
            .where(Delivery.id.in_(due_ids))
            .values(status=DeliveryStatus.SENDING, lease_until=now + lease, attempts=Delivery.attempts + 1)
            .returning(
                Delivery.id,
                Delivery.channel,
                Delivery.subscription_id,
                Delivery.recipient,
                Delivery.payload,
                Delivery.ttl_seconds,
                Delivery.urgency,
                Delivery.topic,
                Delivery.attempts,
                Delivery.created_at,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    subscriptions = {
        s.id: s
        for s in await db.scalars(
            select(PushSubscription).where(
                PushSubscription.id.in_({row.subscription_id for row in claimed if row.subscription_id})
            )
        )
    }
    await db.commit()  # nothing stays open while the deliveries are sent
    claimed_items = []
    for row in claimed:
        common = {
            "delivery_id": row.id, "channel": Channel(row.channel), "payload": row.payload.encode(),
            "ttl_seconds": row.ttl_seconds, "urgency": row.urgency, "topic": row.topic, "attempts": row.attempts,
            "created_at": row.created_at,
        }  # fmt: skip
        if row.channel == Channel.EMAIL:
            claimed_items.append(Claimed(**common, recipient=row.recipient))
        elif (subscription := subscriptions.get(row.subscription_id)) is not None:  # else deleted with its rows
            claimed_items.append(
                Claimed(
                    **common, subscription_id=row.subscription_id, endpoint=subscription.endpoint,
                    p256dh=subscription.p256dh, auth=subscription.auth,
                )
            )  # fmt: skip
    return claimed_items


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in its upper half: 5 s, 10 s, 20 s ... capped at 15 min."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))
    return base / 2 + (rng or random).random() * base / 2


async def mark_delivered(db: AsyncSession, items: Sequence[Claimed]) -> None:
    """One statement (PostgreSQL), so recording costs one round trip however busy the worker's event loop is."""
    if not items:
        return
    params = {"ids": [c.delivery_id for c in items], "now": utcnow()}
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_MARK_DELIVERED_POSTGRES, params)
        return
    await db.execute(_MARK_DELIVERED, params)
    subscriptions = list({c.subscription_id for c in items if c.subscription_id})
    await db.execute(_TOUCH_SUBSCRIPTIONS, {"subscriptions": subscriptions, "now": params["now"]})


def _forgotten_address() -> Any:
    """An email's address is kept only while it may still be sent."""
    return case((Delivery.channel == Channel.EMAIL, ""), else_=Delivery.recipient)


def _marking_delivered(these: Any) -> Any:
    return (
        update(Delivery)
        .where(these)
        .values(
            status=DeliveryStatus.DELIVERED,
            delivered_at=bindparam("now"),
            lease_until=None,
            last_error="",
            recipient=_forgotten_address(),
        )
        .execution_options(synchronize_session=False)
    )


# Built once: the worker records outcomes many times a second, and building a statement costs more than running it.
_MARK_DELIVERED = _marking_delivered(Delivery.id.in_(bindparam("ids", expanding=True)))
_TOUCH_SUBSCRIPTIONS = (
    update(PushSubscription)
    .where(PushSubscription.id.in_(bindparam("subscriptions", expanding=True)))
    .values(last_delivered_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_DELIVERED_CTE = (
    _marking_delivered(Delivery.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .returning(Delivery.subscription_id)
    .cte()
)
_MARK_DELIVERED_POSTGRES = (  # one statement text for any count: prepared once
    update(PushSubscription)
    .where(PushSubscription.id.in_(select(_DELIVERED_CTE.c.subscription_id)))
    .values(last_delivered_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def extend_lease(db: AsyncSession, delivery_ids: Iterable[int], lease: dt.timedelta) -> None:
    """The worker is still sending these: keep them from being taken over."""
    ids = list(delivery_ids)
    if ids:
        await db.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
            .values(lease_until=utcnow() + lease)
            .execution_options(synchronize_session=False)
        )


async def forget_subscriptions(db: AsyncSession, subscription_ids: Iterable[uuid.UUID]) -> None:
    """The push service says these are gone: delete them (their pending deliveries go too)."""
    ids = set(subscription_ids)
    if ids:
        await db.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


async def retry_later(db: AsyncSession, item: Claimed, error: str, after_seconds: float | None = None) -> None:
    """Try again later, or give up when attempts or the message's TTL have run out."""
    now = utcnow()
    delay = retry_delay(item.attempts) if after_seconds is None else after_seconds
    expired = now + dt.timedelta(seconds=delay) > item.created_at + dt.timedelta(seconds=item.ttl_seconds)
    if item.attempts >= MAX_ATTEMPTS or expired:
        await give_up(db, item, f"gave up: {error}")
        return
    await _settle(
        db,
        item,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        last_error=error[:300],
    )


async def give_up(db: AsyncSession, item: Claimed, error: str) -> None:
    """Failed for good (the recipient refuses it, or its attempts or TTL ran out): shown to administrators."""
    await _settle(db, item, status=DeliveryStatus.FAILED, last_error=error[:300], recipient=_forgotten_address())


async def _settle(db: AsyncSession, item: Claimed, **values: Any) -> None:
    await db.execute(
        update(Delivery)
        # Not if another worker took the row over meanwhile (its claim counted another attempt).
        .where(Delivery.id == item.delivery_id, Delivery.attempts == item.attempts)
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
