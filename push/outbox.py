"""The outbox: enqueue deliveries in the caller's transaction; claim due ones; record what happened."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, and_, any_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import utcnow
from push.models import DeliveryStatus, PushDelivery, PushSubscription

MAX_ATTEMPTS = 20
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 15 * 60.0


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds until its lease ends, with what sending it needs."""

    delivery_id: int
    subscription_id: uuid.UUID
    endpoint: str
    p256dh: str
    auth: str
    payload: bytes
    ttl_seconds: int
    urgency: str
    topic: str | None
    attempts: int
    created_at: dt.datetime


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
            insert(PushDelivery),
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
    return len(messages)


async def claim(db: AsyncSession, *, limit: int, lease: dt.timedelta) -> list[Claimed]:
    """Take up to `limit` due deliveries (pending and due, or whose worker's lease ran out) with what sending them
    needs, and commit: the caller sends them holding no transaction.

    On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent workers never take the same row.
    """
    now = utcnow()
    due = or_(
        and_(PushDelivery.status == DeliveryStatus.PENDING, PushDelivery.next_attempt_at <= now),
        and_(PushDelivery.status == DeliveryStatus.SENDING, PushDelivery.lease_until < now),
    )
    # A plain read first: an idle worker polls often and should not take the (SQLite) write lock to find nothing.
    if await db.scalar(select(PushDelivery.id).where(due).limit(1)) is None:
        await db.rollback()
        return []
    due_ids = (
        select(PushDelivery.id)
        .where(due)
        .order_by(PushDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(due_ids))
            .values(status=DeliveryStatus.SENDING, lease_until=now + lease, attempts=PushDelivery.attempts + 1)
            .returning(
                PushDelivery.id,
                PushDelivery.subscription_id,
                PushDelivery.payload,
                PushDelivery.ttl_seconds,
                PushDelivery.urgency,
                PushDelivery.topic,
                PushDelivery.attempts,
                PushDelivery.created_at,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    subscriptions = {
        s.id: s
        for s in await db.scalars(
            select(PushSubscription).where(PushSubscription.id.in_({row.subscription_id for row in claimed}))
        )
    }
    await db.commit()  # nothing stays open while the deliveries are sent
    return [
        Claimed(
            delivery_id=row.id,
            subscription_id=row.subscription_id,
            endpoint=subscriptions[row.subscription_id].endpoint,
            p256dh=subscriptions[row.subscription_id].p256dh,
            auth=subscriptions[row.subscription_id].auth,
            payload=row.payload.encode(),
            ttl_seconds=row.ttl_seconds,
            urgency=row.urgency,
            topic=row.topic,
            attempts=row.attempts,
            created_at=row.created_at,
        )
        for row in claimed
        if row.subscription_id in subscriptions  # deleted meanwhile: its rows went with it
    ]


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in its upper half: 5 s, 10 s, 20 s ... capped at 15 min."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))
    return base / 2 + (rng or random).random() * base / 2


async def mark_delivered(db: AsyncSession, items: Sequence[Claimed]) -> None:
    """One statement (PostgreSQL), so recording costs one round trip however busy the worker's event loop is."""
    if not items:
        return
    now = utcnow()
    delivered = (
        update(PushDelivery)
        .where(_one_of(db, PushDelivery.id, [c.delivery_id for c in items]))
        .values(status=DeliveryStatus.DELIVERED, delivered_at=now, lease_until=None, last_error="")
        .execution_options(synchronize_session=False)
    )
    touched = update(PushSubscription).values(last_delivered_at=now).execution_options(synchronize_session=False)
    if db.get_bind().dialect.name == "postgresql":
        cte = delivered.returning(PushDelivery.subscription_id).cte("delivered")
        await db.execute(touched.where(PushSubscription.id.in_(select(cte.c.subscription_id))))
    else:
        await db.execute(delivered)
        await db.execute(touched.where(PushSubscription.id.in_({c.subscription_id for c in items})))


def _one_of(db: AsyncSession, column: Any, values: list[Any]) -> Any:
    """`column IN values`; on PostgreSQL as `= ANY(array)`, one statement text for any count (prepared once)."""
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", values, type_=ARRAY(BigInteger)))
    return column.in_(values)


async def extend_lease(db: AsyncSession, delivery_ids: Iterable[int], lease: dt.timedelta) -> None:
    """The worker is still sending these: keep them from being taken over."""
    ids = list(delivery_ids)
    if ids:
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(ids), PushDelivery.status == DeliveryStatus.SENDING)
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
        values = {"status": DeliveryStatus.FAILED, "lease_until": None, "last_error": f"gave up: {error}"[:300]}
    else:
        values = {
            "status": DeliveryStatus.PENDING,
            "lease_until": None,
            "next_attempt_at": now + dt.timedelta(seconds=delay),
            "last_error": error[:300],
        }
    await db.execute(
        update(PushDelivery)
        # Not if another worker took the row over meanwhile (its claim counted another attempt).
        .where(PushDelivery.id == item.delivery_id, PushDelivery.attempts == item.attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
