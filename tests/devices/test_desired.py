"""The desired-state long-poll: answers at once when the device is behind, holds otherwise, and is woken by a
change made in this process or (PostgreSQL, LISTEN/NOTIFY) in another one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from backend.settings import PROJECT_ROOT
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.devices.conftest import Paired, owner_with_site, pair


@pytest.fixture
async def device(client: Client, other_client: Client) -> Paired:
    return await pair(client, other_client, await owner_with_site(client))


async def current_version(box: Client, device: Paired) -> int:
    return (await box.get("/device/v1/desired?wait=0", headers=device.auth)).json()["version"]


async def test_a_device_behind_gets_the_document_at_once_and_an_unchanged_one_204_after_the_wait(
    other_client: Client, device: Paired
):
    document = (await other_client.get("/device/v1/desired?version=0", headers=device.auth)).json()
    assert document["device_name"] == "Storefront core" and document["share"] is None
    started = time.monotonic()
    unchanged = await other_client.get(f"/device/v1/desired?version={document['version']}&wait=1", headers=device.auth)
    assert unchanged.status_code == 204 and 0.9 < time.monotonic() - started < 3
    too_long = await other_client.get("/device/v1/desired?wait=60", headers=device.auth)
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["field"] == "wait"


async def test_a_rename_wakes_the_waiting_long_poll_within_a_second(
    client: Client, other_client: Client, device: Paired
):
    version = await current_version(other_client, device)
    waiting = asyncio.create_task(
        other_client.get(f"/device/v1/desired?version={version}&wait=20", headers=device.auth)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    changed_at = time.monotonic()
    await client.send_json("PATCH", f"/api/v1/devices/{device.id}", {"name": "Back office core"})
    response = await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - changed_at < 1
    assert response.status_code == 200 and response.json()["device_name"] == "Back office core"
    assert response.json()["version"] == version + 1


async def test_removing_the_device_ends_its_long_poll_with_401(client: Client, other_client: Client, device: Paired):
    version = await current_version(other_client, device)
    waiting = asyncio.create_task(
        other_client.get(f"/device/v1/desired?version={version}&wait=20", headers=device.auth)
    )
    await asyncio.sleep(0.3)
    await client.send_json("DELETE", f"/api/v1/devices/{device.id}")
    response = await asyncio.wait_for(waiting, timeout=5)
    assert response.status_code == 401


CHANGE_FROM_ANOTHER_PROCESS = """
import asyncio, sys, time, uuid
from pathlib import Path
from sqlalchemy.ext.asyncio import AsyncSession
from backend.db import make_engine
from backend.devices import service
from backend.settings import Settings

async def main():
    engine = make_engine(Settings(database_url=sys.argv[1], secret_key="x", var_dir=Path("/tmp")))
    async with AsyncSession(engine, expire_on_commit=False) as db:
        print("ready", flush=True)
        sys.stdin.readline()
        await service.update_device(db, uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3]), name="Renamed elsewhere")
        print(time.time(), flush=True)
    await engine.dispose()

asyncio.run(main())
"""


@pytest.mark.skipif(not POSTGRES_URL, reason="LISTEN/NOTIFY across processes is PostgreSQL's (SQLite runs one process)")
async def test_a_change_made_in_another_process_reaches_the_long_poll_within_a_second(
    client: Client, other_client: Client, device: Paired, database_url: str
):
    owner_id = (await client.get("/api/v1/me")).json()["id"]
    version = await current_version(other_client, device)
    changer = subprocess.Popen(
        [sys.executable, "-c", CHANGE_FROM_ANOTHER_PROCESS, database_url, owner_id, device.id],
        cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert (await asyncio.to_thread(changer.stdout.readline)).strip() == "ready"
        waiting = asyncio.create_task(
            other_client.get(f"/device/v1/desired?version={version}&wait=20", headers=device.auth)
        )
        await asyncio.sleep(0.3)
        changer.stdin.write("go\n")
        changer.stdin.flush()
        committed_at = float(await asyncio.to_thread(changer.stdout.readline))
        response = await asyncio.wait_for(waiting, timeout=5)
        received_at = time.time()
    finally:
        changer.kill()
        changer.wait()
    assert response.status_code == 200 and response.json()["device_name"] == "Renamed elsewhere"
    assert received_at - committed_at < 1
