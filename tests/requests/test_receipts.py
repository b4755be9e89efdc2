"""Access receipts: a police access to an owner's information reaches the owner as a notification (and a push
they can switch off), within the sweeper's next pass, and an investigator working a case gives one message a
few minutes apart, not one per click."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.notifications import service as notifications
from backend.notifications.models import Kind, Notification
from backend.requests.receipts import BATCH_WINDOW, send_receipts
from push.fake_service import FakePushService
from push.models import Delivery
from tests.conftest import Client
from tests.helpers import subscribed_browser
from tests.requests.conftest import send


async def receipts_of(db: AsyncSession, email: str) -> list[Notification]:
    owner = await accounts.get_user_by_email(db, email)
    return list(
        await db.scalars(
            select(Notification)
            .where(Notification.user_id == owner.id, Notification.kind == Kind.POLICE_ACCESS)
            .order_by(Notification.created_at)
        )
    )


async def test_accesses_become_receipts_batched_five_minutes_apart(
    client: Client, area: dict, db: AsyncSession
) -> None:
    request_id = next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")
    now = dt.datetime.now(dt.UTC)
    assert await send_receipts(db, now) == 0  # a request sent has its own notification

    assert (await client.get(f"/api/v1/agency/requests/{request_id}/contact")).status_code == 200
    assert await send_receipts(db, now) == 1
    (first,) = await receipts_of(db, "first@example.com")
    assert first.title == "Police looked at your information" and first.navigate == "/account/access"
    assert first.body == "Milwaukee PD (Det. Milwaukee PD): opened your contact card"
    assert await receipts_of(db, "second@example.com") == []  # the other owner's card was not opened

    # The investigator goes on working: three more accesses give one more message, after the window.
    for _ in range(3):
        await client.get(f"/api/v1/agency/requests/{request_id}/contact")
    assert await send_receipts(db, now + dt.timedelta(minutes=1)) == 0
    assert await send_receipts(db, now + BATCH_WINDOW + dt.timedelta(seconds=1)) == 1
    second = (await receipts_of(db, "first@example.com"))[-1]
    assert second.body == "Milwaukee PD (Det. Milwaukee PD): opened your contact card 3 times"
    assert await send_receipts(db, now + 2 * BATCH_WINDOW) == 0  # nothing new: nothing sent


async def test_a_receipt_is_pushed_unless_the_owner_switched_the_kind_off(
    client: Client, area: dict, db: AsyncSession, push_service: FakePushService
) -> None:
    owner = await accounts.get_user_by_email(db, "first@example.com")
    await subscribed_browser(db, push_service, owner)
    request_id = next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")
    deliveries = select(func.count()).select_from(Delivery)
    before = await db.scalar(deliveries)
    await client.get(f"/api/v1/agency/requests/{request_id}/contact")
    now = dt.datetime.now(dt.UTC)
    assert await send_receipts(db, now) == 1
    assert await db.scalar(deliveries) == before + 1

    (device,) = await notifications.list_subscriptions(db, owner.id, None)
    await notifications.update_subscription(db, owner.id, device.id, muted_kinds=[Kind.POLICE_ACCESS])
    await client.get(f"/api/v1/agency/requests/{request_id}/contact")
    assert await send_receipts(db, now + BATCH_WINDOW) == 1
    assert await db.scalar(deliveries) == before + 1  # switched off: in the app only
    assert len(await receipts_of(db, "first@example.com")) == 2
