"""Small steps tests share: making owners, sites and cameras through the public API."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.notifications import service as notifications
from backend.notifications.schemas import SubscriptionIn
from push.fake_service import FakePushService
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


async def subscribed_browser(db: AsyncSession, push_service: FakePushService, user: User, *_: Any) -> dict:
    """A browser subscription on the fake push service, saved the way the API saves it."""
    browser = push_service.new_subscription()
    await notifications.save_subscription(
        db, user.id, None, msgspec.convert(browser, SubscriptionIn),
        user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/131.0", allowed_hosts=("127.0.0.1",),
    )  # fmt: skip
    return browser
