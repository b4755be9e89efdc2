"""Investigators see "live-capable" on a registered camera linked to a healthy device camera, and nothing more."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices import service
from backend.devices.models import EdgeDevice
from tests.conftest import Client
from tests.devices.conftest import health, owner_with_site, pair, report
from tests.helpers import add_camera
from tests.requests.conftest import investigator

NOW = dt.datetime.now(dt.UTC)
SEARCH = (
    "/api/v1/agency/cameras?latitude=43.0589&longitude=-87.9050&radius_m=200"
    f"&window_start={(NOW - dt.timedelta(hours=2)).isoformat()}&window_end={(NOW - dt.timedelta(hours=1)).isoformat()}"
).replace("+", "%2B")


async def test_only_a_camera_linked_to_a_healthy_device_camera_is_live_capable(
    client: Client, other_client: Client, db: AsyncSession
):
    site_id = await owner_with_site(client)
    linked = await add_camera(client, site_id, name="Storefront")
    await add_camera(client, site_id, name="Side door")
    device = await pair(client, other_client, site_id)
    await other_client.post("/device/v1/heartbeat", json=report(health("front", "Front door")), headers=device.auth)
    [front] = (await client.get(f"/api/v1/devices/{device.id}")).json()["cameras"]
    await client.send_json("POST", f"/api/v1/devices/cameras/{front['id']}/link", {"camera_id": linked["id"]})

    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det@mpd.example", "Milwaukee PD")
    found = (await client.get(SEARCH)).json()["cameras"]
    assert {c["name"]: c["live_capable"] for c in found} == {"Storefront": True, "Side door": False}
    page = await client.get(SEARCH.replace("/api/v1/agency/cameras", "/console/search"))
    assert page.text.count("Live-capable</span>") == 1
    assert "Front door" not in page.text and "Storefront core" not in page.text  # nothing about the device itself

    await other_client.post(
        "/device/v1/heartbeat", json=report(health("front", "Front door", arriving=False)), headers=device.auth
    )
    assert [c["live_capable"] for c in (await client.get(SEARCH)).json()["cameras"]] == [False, False]

    await other_client.post("/device/v1/heartbeat", json=report(health("front", "Front door")), headers=device.auth)
    assert {c["name"]: c["live_capable"] for c in (await client.get(SEARCH)).json()["cameras"]}["Storefront"]
    await db.execute(update(EdgeDevice).values(offline_after=NOW - dt.timedelta(seconds=1)))
    await db.commit()
    await service.sweep(db)
    assert [c["live_capable"] for c in (await client.get(SEARCH)).json()["cameras"]] == [False, False]
