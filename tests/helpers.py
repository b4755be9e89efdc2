"""Small steps tests share: making owners, sites and cameras through the public API."""

from __future__ import annotations

from typing import Any

from tests.conftest import Client

PASSWORD = "lantern-by-the-door-42"

SITE = {
    "name": "Corner bakery",
    "address": "2401 N Holton St, Milwaukee, WI",
    "latitude": 43.0589,
    "longitude": -87.9050,
    "kind": "business",
    "contact_phone": "(414) 555-0100",
    "contact_hours": "Weekdays 9-17",
}

CAMERA = {
    "name": "Back door",
    "bearing_deg": 270,
    "field_of_view_deg": 110,
    "range_m": 25,
    "placement": "outdoor",
    "recorder": "nvr_dvr",
    "retention_days": 14,
}


async def sign_up(client: Client, email: str, password: str = PASSWORD, name: str = "Pat Owner") -> dict[str, Any]:
    response = await client.send_json(
        "POST", "/api/v1/auth/signup", {"email": email, "password": password, "display_name": name}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_site(client: Client, **overrides: Any) -> dict[str, Any]:
    response = await client.send_json("POST", "/api/v1/sites", {**SITE, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


async def add_camera(client: Client, site_id: str, **overrides: Any) -> dict[str, Any]:
    response = await client.send_json("POST", f"/api/v1/sites/{site_id}/cameras", {**CAMERA, **overrides})
    assert response.status_code == 201, response.text
    return response.json()
