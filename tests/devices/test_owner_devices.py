"""An owner's devices: list, rename, move, link cameras, register a camera from one, remove; a second owner gets
404 for every one of them and changes nothing; pages show health and keep form errors beside the field."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.models import DeviceCamera, EdgeDevice
from tests.conftest import Client
from tests.devices.conftest import Paired, health, owner_with_site, pair, report
from tests.helpers import add_camera, add_site, sign_up


@pytest.fixture
async def device(client: Client, other_client: Client) -> Paired:
    """`client`: the owner, whose box reported two cameras; `other_client` is free for a second owner."""
    paired = await pair(client, other_client, await owner_with_site(client))
    response = await other_client.post(
        "/device/v1/heartbeat",
        json=report(health("front", "Front door"), health("alley", "Alley")),
        headers=paired.auth,
    )
    assert response.status_code == 200
    return paired


async def device_cameras(client: Client, device: Paired) -> dict[str, dict]:
    seen = (await client.get(f"/api/v1/devices/{device.id}")).json()
    return {c["name"]: c for c in seen["cameras"]}


async def test_the_owner_links_a_device_camera_and_registers_another_from_it(client: Client, device: Paired):
    registered = await add_camera(client, device.site_id, name="Storefront")
    cameras = await device_cameras(client, device)
    linked = await client.send_json(
        "POST", f"/api/v1/devices/cameras/{cameras['Front door']['id']}/link", {"camera_id": registered["id"]}
    )
    assert linked.status_code == 200, linked.text
    front = {c["name"]: c for c in linked.json()["cameras"]}["Front door"]
    assert (front["camera_id"], front["camera_name"]) == (registered["id"], "Storefront")

    made = await client.send_json("POST", f"/api/v1/devices/cameras/{cameras['Alley']['id']}/register")
    assert made.status_code == 201, made.text
    site = (await client.get(f"/api/v1/sites/{device.site_id}")).json()
    assert made.json()["name"] == "Alley" and made.json()["site_id"] == device.site_id
    assert (made.json()["latitude"], made.json()["longitude"]) == (site["latitude"], site["longitude"])
    assert (await device_cameras(client, device))["Alley"]["camera_id"] == made.json()["id"]

    unlinked = await client.send_json(
        "POST", f"/api/v1/devices/cameras/{cameras['Front door']['id']}/link", {"camera_id": None}
    )
    assert {c["name"]: c for c in unlinked.json()["cameras"]}["Front door"]["camera_id"] is None


async def test_a_camera_of_another_site_cannot_be_linked(client: Client, device: Paired, db: AsyncSession):
    elsewhere = await add_site(client, name="Home", kind="home")
    camera = await add_camera(client, elsewhere["id"], name="Porch")
    front = (await device_cameras(client, device))["Front door"]
    response = await client.send_json(
        "POST", f"/api/v1/devices/cameras/{front['id']}/link", {"camera_id": camera["id"]}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "camera_id", "message": "Pick a camera registered at this device's site"}
    ]
    assert (
        await db.scalar(select(func.count()).select_from(DeviceCamera).where(DeviceCamera.camera_id.is_not(None))) == 0
    )

    page = await client.submit(f"/devices/cameras/{front['id']}/link", {"camera_id": camera["id"]})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "Pick a camera registered at this device&#39;s site" in page.text


async def test_rename_and_move_change_the_desired_state_and_removal_revokes_at_once(
    client: Client, other_client: Client, device: Paired
):
    before = (await other_client.get("/device/v1/desired?wait=0", headers=device.auth)).json()
    home = await add_site(client, name="Home", kind="home")
    renamed = await client.send_json(
        "PATCH", f"/api/v1/devices/{device.id}", {"name": "Back office core", "site_id": home["id"]}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["site_name"]) == ("Back office core", "Home")
    after = (
        await other_client.get(f"/device/v1/desired?version={before['version']}&wait=0", headers=device.auth)
    ).json()
    assert after["version"] > before["version"]
    assert (after["device_name"], after["site_name"]) == ("Back office core", "Home")

    assert (await client.send_json("DELETE", f"/api/v1/devices/{device.id}")).status_code == 204
    refused = await other_client.post("/device/v1/heartbeat", json=report(health()), headers=device.auth)
    assert refused.status_code == 401
    assert (await client.get("/api/v1/devices")).json() == []


async def test_another_owner_gets_404_for_every_device_route_and_changes_nothing(
    client: Client, other_client: Client, device: Paired, db: AsyncSession
):
    front = (await device_cameras(client, device))["Front door"]
    await sign_up(other_client, "second@example.com")
    theirs = await add_site(other_client, name="Their shop")
    their_camera = await add_camera(other_client, theirs["id"], name="Theirs")
    attempts = [
        ("GET", f"/api/v1/devices/{device.id}", None),
        ("PATCH", f"/api/v1/devices/{device.id}", {"name": "Mine now"}),
        ("PATCH", f"/api/v1/devices/{device.id}", {"site_id": theirs["id"]}),
        ("DELETE", f"/api/v1/devices/{device.id}", None),
        ("POST", f"/api/v1/devices/cameras/{front['id']}/link", {"camera_id": their_camera["id"]}),
        ("POST", f"/api/v1/devices/cameras/{front['id']}/register", None),
    ]
    for method, url, body in attempts:
        response = await other_client.send_json(method, url, body)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Storefront core" not in response.text
    pages = [
        ("GET", f"/devices/{device.id}", None),
        ("POST", f"/devices/{device.id}/edit", {"name": "Mine", "site_id": theirs["id"]}),
        ("POST", f"/devices/{device.id}/alerts", {"alerts": "off"}),
        ("POST", f"/devices/{device.id}/remove", {}),
        ("POST", f"/devices/cameras/{front['id']}/link", {"camera_id": their_camera["id"]}),
        ("POST", f"/devices/cameras/{front['id']}/register", {}),
    ]
    for method, url, form in pages:
        response = await (other_client.get(url) if method == "GET" else other_client.submit(url, form))
        assert response.status_code == 404, (url, response.status_code)
    # The owner's own camera cannot be linked by them to another owner's camera either.
    response = await client.send_json(
        "POST", f"/api/v1/devices/cameras/{front['id']}/link", {"camera_id": their_camera["id"]}
    )
    assert response.status_code == 404
    assert (await other_client.get("/api/v1/devices")).json() == []
    device_row = await db.scalar(select(EdgeDevice))
    assert (device_row.name, str(device_row.site_id), device_row.alerts_muted) == (
        "Storefront core",
        device.site_id,
        False,
    )
    assert (
        await db.scalar(select(func.count()).select_from(DeviceCamera).where(DeviceCamera.camera_id.is_not(None))) == 0
    )


async def test_pages_show_the_devices_health_and_the_add_form_keeps_its_values(
    client: Client, other_client: Client, device: Paired
):
    listing = await client.get("/devices")
    assert (
        "Storefront core" in listing.text
        and "Online" in listing.text
        and "2 of 2 cameras sending video" in listing.text
    )
    page = await client.get(f"/devices/{device.id}")
    assert "Front door" in page.text and "1920×1080" in page.text and "15.0 frames/s" in page.text
    assert "Outages, last 7 days" in page.text

    prefilled = await client.get("/devices/add?code=WDJB-MJHT")
    assert 'value="WDJB-MJHT"' in prefilled.text
    wrong = await client.submit(
        "/devices/add", {"user_code": "WDJB-MJHT", "name": "Garage core", "site_id": device.site_id}
    )
    assert wrong.status_code == 400
    assert "No device is showing that code" in wrong.text and 'value="Garage core"' in wrong.text
    empty = await client.submit("/devices/add", {"user_code": "", "name": "", "site_id": device.site_id})
    assert empty.status_code == 400 and empty.text.count('aria-invalid="true"') == 2

    export = (await client.get("/api/v1/me/export")).json()
    [exported] = export["edge_devices"]
    assert exported["name"] == "Storefront core" and len(exported["cameras"]) == 2 and exported["outages"] == []
    assert device.credential not in str(export)

    muted = await client.submit(f"/devices/{device.id}/alerts", {"alerts": "off"})
    assert "Alerts for this device are off" in muted.text
    blank = await client.submit(f"/devices/{device.id}/edit", {"name": "", "site_id": device.site_id})
    assert blank.status_code == 400 and "Name is required" in blank.text
