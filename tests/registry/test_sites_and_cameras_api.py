"""An owner's sites and cameras through the JSON API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.registry.models import Camera, Site
from backend.registry.schemas import CameraIn, SiteIn
from backend.validation import labels
from tests.conftest import Client
from tests.helpers import CAMERA, SITE, add_camera, add_site, sign_up


async def _count(db: AsyncSession, model) -> int:
    return await db.scalar(select(func.count()).select_from(model))


async def test_add_list_edit_and_delete_a_site(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    assert site["name"] == SITE["name"] and site["cameras"] == []
    listed = (await client.get("/api/v1/sites")).json()
    assert [s["id"] for s in listed] == [site["id"]]
    patched = await client.send_json("PATCH", f"/api/v1/sites/{site['id']}", {"name": "  Bakery  ", "kind": "home"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Bakery" and patched.json()["kind"] == "home"
    assert patched.json()["address"] == SITE["address"]
    assert (await client.send_json("DELETE", f"/api/v1/sites/{site['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/sites/{site['id']}")).status_code == 404


async def test_camera_defaults_to_its_site_position_and_can_be_placed(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    assert (camera["latitude"], camera["longitude"]) == (SITE["latitude"], SITE["longitude"])
    assert camera["paused"] is False and camera["retention_days"] == 14
    placed = await add_camera(client, site["id"], name="Alley", latitude=43.059, longitude=-87.9052)
    assert (placed["latitude"], placed["longitude"]) == (43.059, -87.9052)
    half = await client.send_json("POST", f"/api/v1/sites/{site['id']}/cameras", {**CAMERA, "latitude": 43.0})
    assert half.status_code == 400
    assert half.json()["errors"][0]["field"] == "longitude"
    names = [c["name"] for c in (await client.get(f"/api/v1/sites/{site['id']}")).json()["cameras"]]
    assert names == ["Alley", "Back door"]


async def test_edit_pause_resume_and_delete_a_camera(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    url = f"/api/v1/cameras/{camera['id']}"
    edited = await client.send_json("PATCH", url, {"bearing_deg": 90, "note": "Covers the alley"})
    assert edited.json()["bearing_deg"] == 90 and edited.json()["note"] == "Covers the alley"
    assert edited.json()["name"] == "Back door"
    paused = (await client.send_json("POST", f"{url}/pause")).json()
    assert paused["paused"] is True and paused["paused_at"]
    overview = (await client.get("/api/v1/sites")).json()
    assert overview[0]["cameras"][0]["paused"] is True
    resumed = (await client.send_json("POST", f"{url}/resume")).json()
    assert resumed["paused"] is False and resumed["paused_at"] is None
    assert (await client.send_json("DELETE", url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_deleting_a_site_deletes_its_cameras(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    await add_camera(client, site["id"])
    await add_camera(client, site["id"], name="Garage")
    await client.send_json("DELETE", f"/api/v1/sites/{site['id']}")
    assert await _count(db, Camera) == 0


def _named(struct_type: type, field: str, message: str) -> str:
    """A message names its field as the form's label does ("Latitude must be at most 90")."""
    return message if message.startswith(labels(struct_type)[field]) else f"{labels(struct_type)[field]} {message}"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("latitude", 90.5, "must be at most 90"),
        ("latitude", -91, "must be at least -90"),
        ("longitude", 181, "must be at most 180"),
        ("name", "", "is required"),
        ("name", "   ", "must not be blank"),
        ("name", "x" * 101, "must be at most 100 characters"),
        ("kind", "castle", "is not one of the allowed choices"),
        ("latitude", "north", "must be a number"),
        ("contact_email", "not-an-email", "Contact email is not an email address (name@example.com)"),
    ],
)
async def test_bad_site_input_names_the_field_and_saves_nothing(
    client: Client, db: AsyncSession, field: str, value: object, message: str
) -> None:
    await sign_up(client, "owner@example.com")
    response = await client.send_json("POST", "/api/v1/sites", {**SITE, field: value})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [{"field": field, "message": _named(SiteIn, field, message)}]
    assert await _count(db, Site) == 0


async def test_a_site_needs_a_way_to_contact_the_owner(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    response = await client.send_json("POST", "/api/v1/sites", {**SITE, "contact_phone": ""})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "contact_phone"
    site = await add_site(client)
    cleared = await client.send_json("PATCH", f"/api/v1/sites/{site['id']}", {"contact_phone": "", "name": "Changed"})
    assert cleared.status_code == 400
    kept = (await client.get(f"/api/v1/sites/{site['id']}")).json()
    assert kept["contact_phone"] == SITE["contact_phone"] and kept["name"] == SITE["name"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bearing_deg", 360, "must be at most 359"),
        ("bearing_deg", -1, "must be at least 0"),
        ("field_of_view_deg", 0, "must be at least 1"),
        ("field_of_view_deg", 361, "must be at most 360"),
        ("retention_days", 0, "must be at least 1"),
        ("retention_days", 366, "must be at most 365"),
        ("range_m", 0, "must be at least 1"),
        ("recorder", "vhs", "is not one of the allowed choices"),
        ("bearing_deg", 12.5, "must be a whole number"),
    ],
)
async def test_bad_camera_input_names_the_field_and_saves_nothing(
    client: Client, db: AsyncSession, field: str, value: object, message: str
) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    response = await client.send_json("POST", f"/api/v1/sites/{site['id']}/cameras", {**CAMERA, field: value})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "message": _named(CameraIn, field, message)}]
    assert await _count(db, Camera) == 0


async def test_missing_field_and_unknown_field_are_named(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    missing = await client.send_json("POST", "/api/v1/sites", {k: v for k, v in SITE.items() if k != "address"})
    assert missing.json()["errors"] == [{"field": "address", "message": f"{labels(SiteIn)['address']} is required"}]
    unknown = await client.send_json("POST", "/api/v1/sites", {**SITE, "owner_id": "someone-else"})
    refused = "owner_id is not a field this request accepts"
    assert unknown.json()["errors"] == [{"field": "owner_id", "message": refused}]


async def test_unknown_site_id_is_404(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    response = await client.get("/api/v1/sites/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such site among yours"


async def test_signed_out_requests_get_401(client: Client) -> None:
    response = await client.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
