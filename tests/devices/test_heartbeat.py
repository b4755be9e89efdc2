"""Heartbeats: health in, desired state out; one cheap UPDATE when nothing changed; bad input refused whole."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import make_engine
from backend.devices import service
from backend.devices.models import DeviceCamera, EdgeDevice
from backend.devices.schemas import HeartbeatIn
from tests.conftest import Client
from tests.devices.conftest import Paired, health, owner_with_site, pair, report


@pytest.fixture
async def device(client: Client, other_client: Client) -> Paired:
    """`client` is the owner; `other_client` plays the box."""
    return await pair(client, other_client, await owner_with_site(client))


async def test_a_heartbeat_brings_the_device_online_with_its_cameras_health(
    client: Client, other_client: Client, device: Paired
):
    response = await other_client.post(
        "/device/v1/heartbeat",
        json=report(health("front", "Front door"), health("alley", "Alley")),
        headers=device.auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["heartbeat_interval_s"] == 30 and body["desired"]["device_name"] == "Storefront core"
    assert abs(dt.datetime.fromisoformat(body["server_time"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)

    seen = (await client.get(f"/api/v1/devices/{device.id}")).json()
    assert seen["status"] == "online" and seen["agent_version"] == "0.1.0"
    assert seen["uptime_s"] == 120 and seen["disk_free_bytes"] == 8_000_000_000 and not seen["clock_wrong"]
    cameras = {c["name"]: c for c in seen["cameras"]}
    assert set(cameras) == {"Front door", "Alley"}
    front = cameras["Front door"]
    assert (front["frames_arriving"], front["fps"], front["width"], front["height"], front["codec"]) == (
        True, 15.0, 1920, 1080, "h264",
    )  # fmt: skip
    assert front["bitrate_bps"] == 2_000_000 and front["last_frame_at"] is not None


async def test_an_unchanged_heartbeat_is_one_update_and_touches_no_camera_row(
    other_client: Client, device: Paired, db: AsyncSession
):
    body = report(health("front"), health("alley", "Alley"))
    assert (await other_client.post("/device/v1/heartbeat", json=body, headers=device.auth)).status_code == 200
    statements: list[str] = []
    sync_engine = Engine  # every engine: the app's is one of them

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        body["cameras"][0]["fps"] = 14.2  # figures change every time; which cameras and their state do not
        response = await other_client.post("/device/v1/heartbeat", json=body, headers=device.auth)
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert statements == ["UPDATE"], statements
    device_row = await db.scalar(select(EdgeDevice))
    assert device_row.health["front"]["fps"] == 14.2


async def test_a_made_up_or_missing_credential_is_401_and_writes_nothing(
    other_client: Client, device: Paired, db: AsyncSession
):
    for headers in ({"Authorization": "Bearer made-up"}, {}, {"Authorization": f"Basic {device.credential}"}):
        response = await other_client.post("/device/v1/heartbeat", json=report(health()), headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert (await db.scalar(select(EdgeDevice))).last_heartbeat_at is None
    assert await db.scalar(select(func.count()).select_from(DeviceCamera)) == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"cameras": [health(fps=-1.0)]}, "cameras", "must be at least 0"),
        ({"uptime_s": -5}, "uptime_s", "must be at least 0"),
        ({"colour": "blue"}, "colour", "is not a field this request accepts"),
        ({"cameras": [health("a"), health("a")]}, "cameras", "Each camera must have its own key"),
        ({"cameras": [health("no spaces")]}, "cameras", "is not in the expected format"),
    ],
)
async def test_impossible_values_are_400_naming_the_field_and_nothing_is_saved(
    other_client: Client, device: Paired, db: AsyncSession, change: dict, field: str, message: str
):
    response = await other_client.post("/device/v1/heartbeat", json=report(**change), headers=device.auth)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and message in error["message"], error
    assert (await db.scalar(select(EdgeDevice))).last_heartbeat_at is None
    assert await db.scalar(select(func.count()).select_from(DeviceCamera)) == 0


async def test_a_clock_ten_years_off_is_accepted_and_flagged(client: Client, other_client: Client, device: Paired):
    wrong = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3652)).isoformat()
    response = await other_client.post("/device/v1/heartbeat", json=report(sent_at=wrong), headers=device.auth)
    assert response.status_code == 200
    seen = (await client.get(f"/api/v1/devices/{device.id}")).json()
    assert seen["clock_wrong"] is True and seen["clock_offset_s"] < -315_000_000
    page = await client.get(f"/devices/{device.id}")
    assert "Wrong by 10 years" in page.text


async def test_a_body_over_64_kb_is_413(other_client: Client, device: Paired, db: AsyncSession):
    body = report(health(error="x" * 300))
    body["padding"] = "x" * 70_000
    response = await other_client.post("/device/v1/heartbeat", json=body, headers=device.auth)
    assert response.status_code == 413
    assert (await db.scalar(select(EdgeDevice))).last_heartbeat_at is None


async def test_a_panic_button_press_is_stored(other_client: Client, device: Paired, db: AsyncSession):
    pressed = {"kind": "button_press", "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "detail": "front counter"}
    response = await other_client.post("/device/v1/events", json=pressed, headers=device.auth)
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "button_press"
    unknown = await other_client.post("/device/v1/events", json={**pressed, "kind": "explode"}, headers=device.auth)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "kind"


async def test_heartbeats_arriving_together_share_one_write_and_each_gets_its_own_answer(
    client: Client, other_client: Client, device: Paired, db: AsyncSession, settings
):
    second = await pair(client, other_client, device.site_id, name="Back office core")
    batcher = service.HeartbeatBatcher(make_engine(settings))
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    body = msgspec.convert(report(health("front")), HeartbeatIn)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        answers = await asyncio.gather(
            batcher.record(device.credential, body),
            batcher.record(second.credential, body),
            batcher.record(device.credential, body),  # the same box twice: written once, answered twice
            batcher.record("made-up", body),
            return_exceptions=True,
        )
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        await batcher.engine.dispose()
    assert [a.desired["device_name"] for a in answers[:3]] == ["Storefront core", "Back office core", "Storefront core"]
    assert isinstance(answers[3], service.DeviceNotAuthenticated)
    postgres = settings.database_url.startswith("postgresql")
    # One UPDATE for the batch on PostgreSQL; one per device in one transaction on SQLite. Both devices were new,
    # so each then took the slow path once (its cameras appeared).
    assert statements.count("UPDATE") >= (1 if postgres else 2)
    if postgres:
        assert statements[0] == "UPDATE" and "UPDATE" not in statements[1:2]
    db.expire_all()
    heard = (await db.scalars(select(EdgeDevice.last_heartbeat_at))).all()
    assert len(heard) == 2 and all(heard)
