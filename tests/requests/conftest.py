"""Shared setup for footage-request tests: two owners near an incident and an investigator."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from tests.conftest import Client
from tests.helpers import PASSWORD, add_camera, add_site, sign_up

DETECTIVE_PASSWORD = "detective-lantern-9"
NOW = dt.datetime.now(dt.UTC)


async def investigator(
    db: AsyncSession, client: Client, email: str, agency: str, role: Role = Role.INVESTIGATOR, name: str = ""
) -> None:
    """A new investigator (or live desk operator) of `agency` with a second factor set up, signed in on `client`
    with password and code."""
    user = await accounts.create_user(
        db, email=email, password=DETECTIVE_PASSWORD, display_name=name or f"Det. {agency}", roles=[role],
        agency_name=agency,
    )  # fmt: skip
    user.totp_secret, user.totp_confirmed_at = pyotp.random_base32(), dt.datetime.now(dt.UTC)
    await db.commit()
    credentials = {"email": email, "password": DETECTIVE_PASSWORD, "totp_code": pyotp.TOTP(user.totp_secret).now()}
    response = await client.send_json("POST", "/api/v1/auth/login", credentials)
    assert response.status_code == 200, response.text


@pytest.fixture
async def area(client: Client, other_client: Client, db: AsyncSession) -> dict:
    """Two owners near an incident (one camera paused), and `client` then signed in as an investigator."""
    await sign_up(other_client, "second@example.com")
    second_site = await add_site(other_client, latitude=43.0601, longitude=-87.9052, contact_phone="(414) 555-0199")
    second_camera = await add_camera(other_client, second_site["id"], name="Alley", retention_days=30)
    await sign_up(client, "first@example.com")
    site = await add_site(client)
    back = await add_camera(client, site["id"], retention_days=3)
    paused = await add_camera(client, site["id"], name="Garage")
    await client.send_json("POST", f"/api/v1/cameras/{paused['id']}/pause")
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det@mpd.example", "Milwaukee PD")
    return {"cameras": [back["id"], paused["id"], second_camera["id"]], "back": back, "second": second_camera}


def request_body(cameras: list[str], **overrides) -> dict:
    return {
        "camera_ids": cameras,
        "case_number": "MPD-26-1234",
        "request_type": "voluntary",
        "incident_latitude": 43.0595,
        "incident_longitude": -87.9051,
        "window_start": (NOW - dt.timedelta(days=1)).isoformat(),
        "window_end": (NOW - dt.timedelta(days=1) + dt.timedelta(minutes=30)).isoformat(),
        "message": "Hit and run at the corner.",
        **overrides,
    }


async def send(client: Client, area: dict, **overrides) -> list[dict]:
    response = await client.send_json("POST", "/api/v1/agency/requests", request_body(area["cameras"], **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def as_owner(client: Client, email: str) -> None:
    await client.send_json("POST", "/api/v1/auth/logout")
    response = await client.send_json("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200
