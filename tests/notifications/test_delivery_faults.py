"""Push delivery through faults: each message's outcome is recorded as it completes, so a worker killed mid-batch
repeats nothing it had recorded and its claimed rows are taken over when its lease runs out; database connections
cut during a fan-out lose nothing and repeat (almost) nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from backend.notifications.delivery import ssl_context, vapid_keys
from backend.settings import PROJECT_ROOT, Settings
from push.fake_service import FakePushService
from push.models import Delivery, DeliveryStatus
from push.sender import PushSender
from push.vapid import VapidSigner
from push.worker import DeliveryWorker
from tests.databases import POSTGRES_URL
from tests.helpers import subscribed_browser as device
from tests.notifications.test_delivery import footage_request, owner


async def delivered(db: AsyncSession) -> int:
    db.expire_all()
    return await db.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.DELIVERED)
    )


async def statuses(db: AsyncSession) -> Counter[str]:
    db.expire_all()
    return Counter((await db.scalars(select(Delivery.status))).all())


async def wait_for(condition, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """A bound on how long a step may take before the test gives up (not a performance figure)."""
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not done within {seconds} s")


def receipts(push_service: FakePushService) -> Counter[tuple[str, str]]:
    """How many times each (browser, message) arrived."""
    return Counter((m.subscription_id, m.topic or "") for m in push_service.messages())


def worker_process(settings: Settings, push_service: FakePushService, lease_seconds: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORCHLIGHT_DATABASE_URL": settings.database_url,
        "PORCHLIGHT_VAR_DIR": str(settings.var_dir),
        "PORCHLIGHT_PUSH_EXTRA_HOSTS": "127.0.0.1",
        "PORCHLIGHT_PUSH_CA_FILE": push_service.ca_file,
        "PORCHLIGHT_PUSH_LEASE_SECONDS": str(lease_seconds),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "backend", "worker"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL
    )


async def test_a_worker_killed_mid_batch_repeats_nothing_it_recorded_and_is_taken_over_after_its_lease(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings
) -> None:
    """50 browsers, one message each, in one batch: 40 are delivered, 10 hang at the push service (fewer than the
    worker sends at once, so they leave it slots for the others). The 40 are recorded as they complete (before,
    nothing was recorded until the whole batch was done), the worker is killed, and a new one takes the 10 over
    once the dead worker's lease ends: each message arrives exactly once."""
    user = await owner(db)
    browsers = [await device(db, push_service, user, push_settings) for _ in range(50)]
    for browser in browsers[40:]:
        push_service.hang(browser)
    await footage_request(db, user)
    first = worker_process(push_settings, push_service, lease_seconds=2)
    try:
        await wait_for(lambda: _at_least(db, 40))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # Recorded per message, while 10 were still in flight (they are still the dead worker's, until its lease ends).
    assert await statuses(db) == Counter({DeliveryStatus.DELIVERED: 40, DeliveryStatus.SENDING: 10})
    for browser in browsers[40:]:
        push_service.clear_faults(browser)

    second = worker_process(push_settings, push_service, lease_seconds=2)
    try:
        await wait_for(lambda: _at_least(db, 50))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    counts = receipts(push_service)
    assert len(counts) == 50  # lost: 0
    assert sum(counts.values()) - len(counts) == 0  # duplicates: 0 (the 10 in flight never reached a phone)


async def _at_least(db: AsyncSession, count: int) -> bool:
    return await delivered(db) >= count


@pytest.mark.skipif(not POSTGRES_URL, reason="cutting a connection (pg_terminate_backend) is PostgreSQL's")
async def test_connections_cut_during_a_fan_out_lose_nothing(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings
) -> None:
    """8 cuts of every connection the worker holds while it delivers 600 messages: each one arrives; a repeat can
    only be a message whose outcome was being written at a cut (the issue allows 20)."""
    user = await owner(db)
    for _ in range(200):
        await device(db, push_service, user, push_settings)
    for n in range(3):
        await footage_request(db, user, n)
    engine = create_async_engine(
        push_settings.database_url, pool_pre_ping=True, connect_args={"server_settings": {"application_name": "cut-me"}}
    )
    signer = VapidSigner(vapid_keys(push_settings), push_settings.vapid_subject)
    cuts = 0

    async def cut() -> None:
        nonlocal cuts
        while cuts < 8:
            await asyncio.sleep(0.15)
            await db.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'cut-me' AND datname = current_database()"  # this test's, no other's
                )
            )
            await db.commit()
            cuts += 1

    async with PushSender(signer, ssl_context=ssl_context(push_settings)) as sender:
        worker = DeliveryWorker(
            async_sessionmaker(engine, expire_on_commit=False), sender, batch_size=50, lease=dt.timedelta(seconds=10)
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await cut()
            await wait_for(lambda: _at_least(db, 600))
        finally:
            stop.set()
            await running
    await engine.dispose()
    counts = receipts(push_service)
    assert cuts == 8 and len(counts) == 600  # lost: 0
    assert sum(counts.values()) - len(counts) <= 20


@pytest.mark.skipif(not POSTGRES_URL, reason="holding a table lock from another session is PostgreSQL's")
async def test_sending_pauses_while_outcomes_cannot_be_written(
    db: AsyncSession, push_service: FakePushService, push_settings: Settings
) -> None:
    """At most `unrecorded` messages are ever sent (or being sent) with their outcome not yet written: what a crash
    can repeat. While outcomes cannot be written (here the table they touch is locked by another session), the
    worker stops after that many, then goes on when it can write."""
    user = await owner(db)
    for _ in range(30):
        await device(db, push_service, user, push_settings)
    await footage_request(db, user)
    engine = create_async_engine(push_settings.database_url)
    signer = VapidSigner(vapid_keys(push_settings), push_settings.vapid_subject)
    locker = await engine.connect()
    await locker.begin()
    await locker.execute(text("LOCK TABLE push_subscriptions IN EXCLUSIVE MODE"))  # reads go on, updates wait
    async with PushSender(signer, ssl_context=ssl_context(push_settings)) as sender:
        worker = DeliveryWorker(async_sessionmaker(engine, expire_on_commit=False), sender, concurrency=4, unrecorded=6)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await wait_for(lambda: _received(push_service, 6))
            await asyncio.sleep(1.0)  # time enough for the other 24 to be sent, if nothing held them back
            assert len(push_service.messages()) == 6
            await locker.rollback()
            await wait_for(lambda: _at_least(db, 30))
        finally:
            await locker.close()  # (first: a write waiting on the lock would keep the worker from stopping)
            stop.set()
            await running
    await engine.dispose()
    counts = receipts(push_service)
    assert len(counts) == 30 and set(counts.values()) == {1}


async def _received(push_service: FakePushService, count: int) -> bool:
    return len(push_service.messages()) >= count
