"""Offline and back-online alerts through the outbox and the fake push service (which decrypts), with the clock
moved by the test: one push per change, the same tag and Topic so "back online" replaces "offline", and a
summary instead of a stream when a device flaps."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, User
from backend.devices import service
from backend.devices.models import DeviceOutage, EdgeDevice
from backend.devices.schemas import HeartbeatIn, PairIn
from backend.notifications.models import Notification
from backend.registry import service as registry
from backend.registry.models import SiteKind
from backend.registry.schemas import SiteIn
from push.fake_service import FakePushService
from push.worker import DeliveryWorker
from tests.devices.conftest import health, report
from tests.helpers import subscribed_browser

T0 = dt.datetime(2026, 12, 3, 20, 14, tzinfo=dt.UTC)  # 2:14 PM in Milwaukee


class Box:
    """A paired device driven through the service with the test's clock."""

    def __init__(self, db: AsyncSession, credential: str, device_id) -> None:
        self.db, self.credential, self.id = db, credential, device_id

    async def beat(self, at: dt.datetime, *cameras: dict) -> None:
        body = msgspec.convert(report(*(cameras or (health(),)), sent_at=at.isoformat()), HeartbeatIn)
        await service.heartbeat(self.db, self.credential, body, now=at)


@pytest.fixture
async def owner(db: AsyncSession) -> User:
    return await accounts.create_user(db, email="o@example.com", password=None, display_name="O", roles=[Role.OWNER])


@pytest.fixture
async def box(db: AsyncSession, owner: User) -> Box:
    site = await registry.create_site(
        db, owner.id, SiteIn(name="Bakery", address="1 Main St", latitude=43.0, longitude=-87.9,
                             kind=SiteKind.BUSINESS, contact_phone="555"),
    )  # fmt: skip
    started = await service.start_pairing(db, agent_version="0.1.0", base_url="http://x", now=T0)
    await service.approve_pairing(db, owner.id, PairIn(user_code=started.user_code, name="Storefront core",
                                                       site_id=site.id), now=T0)  # fmt: skip
    token = await service.exchange_device_code(db, started.device_code, now=T0)
    return Box(db, token.access_token, token.device_id)


async def pushes(worker: DeliveryWorker, push_service: FakePushService, browser: dict) -> list[dict]:
    while await worker.run_once():
        pass
    return [m.json()["notification"] | {"topic": m.topic} for m in push_service.messages(browser)]


async def test_offline_then_back_online_is_one_push_each_replacing_by_tag_and_topic(
    db: AsyncSession, owner: User, box: Box, push_service: FakePushService, worker: DeliveryWorker
):
    browser = await subscribed_browser(db, push_service, owner)
    await box.beat(T0)
    assert (await service.sweep(db, now=T0 + dt.timedelta(seconds=89))) == (0, 0, 0)  # not yet 3 intervals
    assert (await service.sweep(db, now=T0 + dt.timedelta(seconds=91))) == (1, 0, 0)
    assert (await service.sweep(db, now=T0 + dt.timedelta(seconds=150))) == (0, 0, 0)  # told once
    [offline] = await pushes(worker, push_service, browser)
    assert offline["title"] == "Storefront core is offline"
    assert offline["body"] == "Storefront core is offline since 2:14 PM."
    assert offline["navigate"] == f"/devices/{box.id}"

    await box.beat(T0 + dt.timedelta(minutes=40))
    _, back = await pushes(worker, push_service, browser)
    assert back["title"] == "Storefront core is back online"
    assert (back["tag"], back["topic"]) == (offline["tag"], offline["topic"])
    outage = await db.scalar(select(DeviceOutage))
    assert (outage.started_at, outage.ended_at) == (T0, T0 + dt.timedelta(minutes=40))
    assert await db.scalar(select(func.count()).select_from(Notification)) == 2  # the in-app record


async def test_a_quick_recovery_is_told_at_once(
    db: AsyncSession, owner: User, box: Box, push_service: FakePushService, worker: DeliveryWorker
):
    browser = await subscribed_browser(db, push_service, owner)
    await box.beat(T0)
    await service.sweep(db, now=T0 + dt.timedelta(seconds=100))
    await pushes(worker, push_service, browser)  # drained step by step: the worker sends a batch concurrently
    await box.beat(T0 + dt.timedelta(minutes=3))
    assert [p["title"] for p in await pushes(worker, push_service, browser)] == [
        "Storefront core is offline", "Storefront core is back online",
    ]  # fmt: skip


async def test_flapping_gives_one_summary_instead_of_a_stream(
    db: AsyncSession, owner: User, box: Box, push_service: FakePushService, worker: DeliveryWorker
):
    browser = await subscribed_browser(db, push_service, owner)
    at = T0
    for _ in range(3):  # down for 2 minutes, up for 2 minutes, three times
        await box.beat(at)
        at += dt.timedelta(seconds=95)
        await service.sweep(db, now=at)
        await pushes(worker, push_service, browser)
        at += dt.timedelta(seconds=30)
        await box.beat(at)
        await pushes(worker, push_service, browser)
    told = await pushes(worker, push_service, browser)
    assert [p["title"] for p in told] == ["Storefront core is offline", "Storefront core is back online"]

    # The window ends (the box is steady now): one summary, which replaces the earlier ones on the phone.
    await box.beat(T0 + dt.timedelta(minutes=16, seconds=30))
    assert await service.sweep(db, now=T0 + dt.timedelta(minutes=16, seconds=30)) == (0, 0, 0)  # 15 min not over
    await box.beat(T0 + dt.timedelta(minutes=17))
    assert await service.sweep(db, now=T0 + dt.timedelta(minutes=17)) == (0, 0, 1)
    told = await pushes(worker, push_service, browser)
    assert len(told) == 3
    assert told[-1]["title"] == "Storefront core is back online"
    assert told[-1]["body"] == "Storefront core is back online. It went offline 3 times in the last hour."
    assert told[-1]["tag"] == told[0]["tag"]
    await box.beat(T0 + dt.timedelta(minutes=40))
    assert await service.sweep(db, now=T0 + dt.timedelta(minutes=40)) == (0, 0, 0)


async def test_a_camera_without_frames_for_two_minutes_is_one_alert(
    db: AsyncSession, owner: User, box: Box, push_service: FakePushService, worker: DeliveryWorker
):
    browser = await subscribed_browser(db, push_service, owner)
    await box.beat(T0, health("front", "Front door"), health("alley", "Alley"))
    await box.beat(
        T0 + dt.timedelta(seconds=30), health("front", "Front door"), health("alley", "Alley", arriving=False)
    )
    await box.beat(
        T0 + dt.timedelta(seconds=60), health("front", "Front door"), health("alley", "Alley", arriving=False)
    )
    assert (await service.sweep(db, now=T0 + dt.timedelta(seconds=149)))[1] == 0
    await box.beat(
        T0 + dt.timedelta(seconds=150), health("front", "Front door"), health("alley", "Alley", arriving=False)
    )
    assert (await service.sweep(db, now=T0 + dt.timedelta(seconds=151)))[1] == 1
    [alert] = await pushes(worker, push_service, browser)
    assert alert["title"] == "Alley: no video"
    assert alert["body"] == "Alley camera on Storefront core stopped sending video at 2:14 PM."

    await box.beat(T0 + dt.timedelta(minutes=30), health("front", "Front door"), health("alley", "Alley"))
    _, back = await pushes(worker, push_service, browser)
    assert back["title"] == "Alley: video is back" and back["tag"] == alert["tag"]


async def test_muted_devices_alert_nobody_but_their_outages_are_kept(
    db: AsyncSession, owner: User, box: Box, push_service: FakePushService, worker: DeliveryWorker
):
    browser = await subscribed_browser(db, push_service, owner)
    await service.update_device(db, owner.id, box.id, alerts_muted=True)
    await box.beat(T0)
    await service.sweep(db, now=T0 + dt.timedelta(minutes=5))
    await box.beat(T0 + dt.timedelta(minutes=20))
    assert await pushes(worker, push_service, browser) == []
    assert await db.scalar(select(func.count()).select_from(Notification)) == 0
    detail = await service.get_device(db, owner.id, box.id, now=T0 + dt.timedelta(minutes=21))
    assert [(o.started_at, o.ended_at) for o in detail.outages] == [(T0, T0 + dt.timedelta(minutes=20))]
    assert (await db.scalar(select(EdgeDevice))).status == "online"
