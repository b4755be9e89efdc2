"""Shared steps for share-now tests: an owner whose device sends a camera, and the live desk signed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Role
from tests.conftest import Client
from tests.devices.conftest import Paired, health, owner_with_site, pair, report
from tests.requests.conftest import investigator

AGENCY = "Milwaukee PD"


@dataclass
class Sharing:
    owner: Client
    desk: Client
    device: Paired
    site_id: str


async def online_device(owner: Client, device: Client, site_id: str, *keys: str) -> Paired:
    """A device paired at the site whose cameras (`keys`) all send video."""
    paired = await pair(owner, device, site_id)
    cameras = [health(key, name=key.replace("-", " ").capitalize()) for key in keys or ("front",)]
    response = await device.post("/device/v1/heartbeat", json=report(*cameras), headers=paired.auth)
    assert response.status_code == 200, response.text
    return paired


async def live_desk(db: AsyncSession, client: Client, email: str = "ortiz@mpd.example", agency: str = AGENCY) -> None:
    await investigator(db, client, email, agency, role=Role.LIVE_DESK, name="J. Ortiz")


@pytest.fixture
async def sharing(client: Client, other_client: Client, db: AsyncSession, app) -> Sharing:  # type: ignore[no-untyped-def]
    """`client`: an owner with a site and a device sending two cameras; `other_client`: the live desk."""
    site_id = await owner_with_site(client)
    async with Client(app) as device:
        paired = await online_device(client, device, site_id, "front", "back-door")
    await live_desk(db, other_client)
    return Sharing(client, other_client, paired, site_id)
