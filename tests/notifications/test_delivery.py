"""Notifications through the outbox and the worker to a real (fake) push service that decrypts, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts import service as accounts
from backend.accounts.models import Role, User
from backend.db import make_engine
from backend.listening import listening
from backend.notifications import service
from backend.notifications.delivery import running_worker, ssl_context, vapid_keys
from backend.notifications.models import Kind, Notification
from backend.settings import PROJECT_ROOT, Settings
from push.fake_service import FakePushService
from push.models import Delivery, DeliveryStatus, PushSubscription
from push.outbox import DOORBELL
from push.sender import PushSender
from push.vapid import VapidSigner
from push.worker import DeliveryWorker
from tests.helpers import subscribed_browser as device


async def owner(db: AsyncSession, email: str = "owner@example.com") -> User:
    return await accounts.create_user(db, email=email, password=None, display_name="Owner", roles=[Role.OWNER])


async def footage_request(db: AsyncSession, user: User, n: int = 1) -> None:
    message = service.Message(
        user.id, "Police request footage", "Near your camera 'Back door'", "/notifications", f"request-{n}",
        topic=f"request-{n}",
    )  # fmt: skip
    await service.notify(db, Kind.FOOTAGE_REQUEST, message)
    await db.commit()


async def statuses(db: AsyncSession) -> list[str]:
    db.expire_all()
    return list((await db.scalars(select(Delivery.status).order_by(Delivery.id))).all())


async def make_due(db: AsyncSession) -> None:
    """Let time pass: every waiting retry is due now."""
    await db.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await db.commit()


async def test_the_decrypted_payload_and_headers_are_what_was_sent(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    await footage_request(db, user)
    assert await worker.run_once() == 1
    [message] = push_service.messages(browser)
    assert message.json() == {
        "web_push": 8030,
        "notification": {
            "title": "Police request footage", "body": "Near your camera 'Back door'",
            "navigate": "/notifications", "tag": "request-1",
        },
        "app_badge": "1",
    }  # fmt: skip
    assert (message.ttl, message.urgency, message.topic) == (48 * 3600, "high", "request-1")
    assert message.vapid_claims["aud"] == push_service.origin
    assert message.vapid_claims["sub"] == push_settings.vapid_subject
    assert message.vapid_public_key == vapid_keys(push_settings).public_key
    assert await statuses(db) == ["delivered"]
    assert (await db.scalar(select(PushSubscription))).last_delivered_at is not None


async def test_the_in_app_list_has_the_item_even_when_push_is_off_for_that_kind(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    subscription = await db.scalar(select(PushSubscription))
    await service.update_subscription(db, user.id, subscription.id, muted_kinds=[Kind.FOOTAGE_REQUEST])
    await footage_request(db, user)
    assert await worker.run_once() == 0
    assert push_service.messages(browser) == []
    listed = await service.list_notifications(db, user.id)
    assert listed.unread == 1 and listed.items[0].title == "Police request footage"


async def test_a_500_is_retried_with_backoff_and_then_delivered(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    push_service.fail(browser, 500, times=2)
    await footage_request(db, user)
    before = dt.datetime.now(dt.UTC)
    await worker.run_once()
    row = await db.scalar(select(Delivery))
    await db.refresh(row)
    assert row.status == "pending" and row.attempts == 1 and "500" in row.last_error
    assert before + dt.timedelta(seconds=2) <= row.next_attempt_at <= before + dt.timedelta(seconds=10)
    assert await worker.run_once() == 0  # not due yet
    await make_due(db)
    await worker.run_once()
    await db.refresh(row)
    assert row.attempts == 2
    wait = (row.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 4 <= wait <= 10  # the second retry waits about twice as long as the first
    await make_due(db)
    await worker.run_once()
    assert await statuses(db) == ["delivered"]
    assert len(push_service.messages(browser)) == 1
    assert [a.status for a in push_service.attempts(browser)] == [500, 500, 201]


async def test_a_429_waits_as_long_as_retry_after_says(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    push_service.fail(browser, 429, times=1, retry_after=120)
    await footage_request(db, user)
    await worker.run_once()
    row = await db.scalar(select(Delivery))
    wait = (row.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 115 <= wait <= 121
    await make_due(db)
    await worker.run_once()
    assert await statuses(db) == ["delivered"]


async def test_a_subscription_the_service_says_is_gone_is_deleted_and_never_tried_again(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    gone = await device(db, push_service, user, push_settings)
    kept = await device(db, push_service, user, push_settings)
    push_service.fail(gone, 410)
    await footage_request(db, user, 1)
    assert await worker.run_once() == 2
    assert await db.scalar(select(func.count()).select_from(PushSubscription)) == 1
    await footage_request(db, user, 2)
    await worker.run_once()
    assert len(push_service.attempts(gone)) == 1
    assert len(push_service.messages(kept)) == 2
    # The in-app record keeps both notifications.
    assert (await service.list_notifications(db, user.id)).unread == 2


async def test_a_push_service_that_is_down_keeps_rows_waiting_until_it_returns(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    push_service.hang(browser)  # down: no answer until the client's timeout
    for n in range(3):
        await footage_request(db, user, n)
    started = time.monotonic()
    await worker.run_once()
    assert time.monotonic() - started < 3  # one timeout for the whole batch, not one per message
    assert await statuses(db) == ["pending"] * 3
    push_service.clear_faults(browser)
    await make_due(db)
    await worker.run_once()
    assert await statuses(db) == ["delivered"] * 3
    assert sorted(m.topic for m in push_service.messages(browser)) == ["request-0", "request-1", "request-2"]


async def test_after_the_ttl_has_passed_the_row_is_marked_failed(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    push_service.fail(browser, 503)
    await footage_request(db, user)
    await db.execute(update(Delivery).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)))
    await db.commit()
    await worker.run_once()
    row = await db.scalar(select(Delivery))
    await db.refresh(row)
    assert row.status == "failed" and row.last_error.startswith("gave up")


async def test_two_workers_never_send_the_same_row(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browsers = [await device(db, push_service, user, push_settings) for _ in range(4)]
    for n in range(40):
        await service.notify(db, Kind.DEVICE_STATUS, service.Message(user.id, "Device", "offline", "/", f"d{n}"))
    await db.commit()
    engine = make_engine(push_settings)
    signer = VapidSigner(vapid_keys(push_settings), push_settings.vapid_subject)
    async with PushSender(signer, ssl_context=ssl_context(push_settings)) as sender:
        second = DeliveryWorker(async_sessionmaker(engine, expire_on_commit=False), sender, batch_size=7)
        first = DeliveryWorker(worker._session_factory, worker._sender, batch_size=7)

        async def drain(w: DeliveryWorker) -> int:
            total = 0
            while sent := await w.run_once():
                total += sent
            return total

        counts = await asyncio.gather(drain(first), drain(second))
    await engine.dispose()
    assert sum(counts) == 160
    tags = [(m.subscription_id, m.json()["notification"]["tag"]) for m in push_service.messages()]
    assert len(tags) == len(set(tags)) == 160
    assert all(len(push_service.messages(b)) == 40 for b in browsers)


async def test_a_worker_killed_mid_batch_loses_nothing(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    for n in range(20):
        await footage_request(db, user, n)
    push_service.hang(browser)  # the worker claims the batch and waits on the push service
    env = {
        **os.environ,
        "PORCHLIGHT_DATABASE_URL": push_settings.database_url,
        "PORCHLIGHT_VAR_DIR": str(push_settings.var_dir),
        "PORCHLIGHT_PUSH_EXTRA_HOSTS": "127.0.0.1",
        "PORCHLIGHT_PUSH_CA_FILE": push_service.ca_file,
    }
    process = subprocess.Popen([sys.executable, "-m", "backend", "worker"], env=env, cwd=PROJECT_ROOT)
    try:
        for _ in range(200):
            if await statuses(db) == ["sending"] * 20:
                break
            await asyncio.sleep(0.05)
        assert await statuses(db) == ["sending"] * 20
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    push_service.clear_faults(browser)
    assert await worker.run_once() == 0  # still leased to the dead worker
    # The lease runs out (20 s unless renewed, and a dead worker renews nothing): the rows are taken again.
    await db.execute(update(Delivery).values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await db.commit()
    await worker.run_once()
    assert await statuses(db) == ["delivered"] * 20
    assert sorted({m.topic for m in push_service.messages(browser)}) == sorted(f"request-{n}" for n in range(20))


async def test_test_notification_reaches_only_that_device(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    user = await owner(db)
    first = await device(db, push_service, user, push_settings)
    second = await device(db, push_service, user, push_settings)
    target = (await db.scalars(select(PushSubscription).order_by(PushSubscription.created_at))).first()
    await service.send_test(db, user.id, target.id)
    await worker.run_once()
    delivered = {m.endpoint for m in push_service.messages()}
    assert delivered == {target.endpoint}
    assert {first["endpoint"], second["endpoint"]} >= delivered
    assert (await db.scalar(select(func.count()).select_from(Notification))) == 1


async def test_an_idle_worker_is_woken_by_the_queued_notification_instead_of_waiting_for_its_next_look(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings
) -> None:
    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    engine = make_engine(push_settings)
    # As `porchlight worker` and the app run it: on PostgreSQL the doorbell rings through LISTEN/NOTIFY.
    async with listening(push_settings.database_url, [DOORBELL]):
        async with running_worker(push_settings, engine, idle_poll_seconds=600):
            await asyncio.sleep(0.5)  # it has looked, found nothing, and would look again in ten minutes
            await footage_request(db, user)
            started = time.monotonic()
            await push_service.wait_for_messages_async(1, browser, timeout=5)
            assert time.monotonic() - started < 5
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 5, "told to stop, an idle worker stops at once"
    await engine.dispose()
    assert DeliveryStatus.DELIVERED in await statuses(db)


async def test_failed_deliveries_are_visible_to_admins_only(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker, app, client
) -> None:
    from tests.helpers import sign_up

    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    push_service.fail(browser, 503)
    await footage_request(db, user)
    await db.execute(update(Delivery).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=49)))
    await db.commit()
    await worker.run_once()
    await sign_up(client, "plain@example.com")
    assert (await client.get("/admin/push")).status_code == 403
    await accounts.create_user(
        db, email="root@example.com", password="admin-lantern-77", display_name="Root", roles=[Role.ADMIN]
    )
    await client.send_json("POST", "/api/v1/auth/login", {"email": "root@example.com", "password": "admin-lantern-77"})
    page = await client.get("/admin/push")
    assert page.status_code == 200
    assert 'data-testid="count-failed">1<' in page.text and "gave up: push service answered 503" in page.text
    assert "Police request footage" not in page.text  # no one's notification text


async def test_every_push_carries_a_topic_so_a_repeat_replaces_instead_of_stacking(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings, worker: DeliveryWorker
) -> None:
    """A notification without its own Topic gets one from its tag (same tag, same topic; at most 32 base64url
    characters, as the push service checks)."""
    from push.payload import topic_for

    user = await owner(db)
    browser = await device(db, push_service, user, push_settings)
    for _ in range(2):
        await service.notify(db, Kind.SHARE_NOW, service.Message(user.id, "Share", "on", "/share", "share-42"))
        await db.commit()
    await worker.run_once()
    topics = [m.topic for m in push_service.messages(browser)]
    assert topics == [topic_for("share-42")] * 2 and len(topics[0]) == 32
    assert topic_for("share-43") != topics[0]
