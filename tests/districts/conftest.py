"""Shared steps for district tests: a district with its coordinator signed in, a second district's coordinator, and
members at the roster's first steps (listed; joined with an owner account and a site in the district)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import utcnow
from backend.districts import service
from backend.districts.models import DistrictMember, MemberSource, MemberStatus
from backend.registry.models import Site
from tests.conftest import Client
from tests.helpers import PASSWORD, add_site, sign_up

DISTRICT = "Riverside BID"
OTHER_DISTRICT = "Harbor BID"


@dataclass
class Coordinator:
    client: Client  # signed in as the coordinator (CSRF handled like the PWA's pages)
    user_id: uuid.UUID
    district_id: uuid.UUID
    district: str


async def sign_in_coordinator(db: AsyncSession, client: Client, email: str, district: str) -> Coordinator:
    """A coordinator account of `district` (created if new), signed in on `client`."""
    user = await accounts.create_user(
        db, email=email, password=PASSWORD, display_name="Casey Coordinator", roles=[Role.COORDINATOR],
        district_name=district,
    )  # fmt: skip
    response = await client.send_json("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert user.district_id is not None
    return Coordinator(client, user.id, user.district_id, district)


@pytest.fixture
async def coordinator(app: Litestar, db: AsyncSession) -> AsyncIterator[Coordinator]:
    """The coordinator of Riverside BID, on a browser of their own (`client` and `other_client` stay free)."""
    async with Client(app) as browser:
        yield await sign_in_coordinator(db, browser, "casey@riverside-bid.example", DISTRICT)


@pytest.fixture
async def other_coordinator(app: Litestar, db: AsyncSession) -> AsyncIterator[Coordinator]:
    """The coordinator of another district (Harbor BID): every Riverside member is a 404 to them."""
    async with Client(app) as browser:
        yield await sign_in_coordinator(db, browser, "hollis@harbor-bid.example", OTHER_DISTRICT)


async def add_member(
    db: AsyncSession, district_id: uuid.UUID, business_name: str = "Corner Bakery", **fields: Any
) -> DistrictMember:
    """A member on the roster (listed: no account), saved directly. `fields`: any DistrictMember column."""
    member = DistrictMember(
        district_id=district_id,
        business_name=business_name,
        source=fields.pop("source", MemberSource.MANUAL.value),
        match_key=service.match_key(business_name, fields.get("email", ""), fields.get("address", "")),
        **fields,
    )
    db.add(member)
    await db.commit()
    return member


@dataclass
class Joined:
    member: DistrictMember
    owner: Client  # the member's owner account, signed in
    site_id: str | None  # their site in the district, if one was made


async def joined_member(
    db: AsyncSession,
    district_id: uuid.UUID,
    owner: Client,
    business_name: str = "Joined Grocer",
    email: str | None = None,
    with_site: bool = True,
    joined_at: dt.datetime | None = None,
    **site: Any,
) -> Joined:
    """A member who joined: an owner account signed up on `owner`, linked to the roster row, and (with_site) a
    business site the owner placed in the district."""
    email = email or f"{uuid.uuid4().hex[:8]}@member.example"
    account = await sign_up(owner, email, name=f"{business_name} owner")
    invited = (joined_at or utcnow()) - dt.timedelta(days=2)
    member = await add_member(
        db, district_id, business_name, email=email, status=MemberStatus.JOINED.value,
        user_id=uuid.UUID(account["id"]), invited_at=invited, invite_expires_at=invited + dt.timedelta(days=90),
        joined_at=joined_at or utcnow(),
    )  # fmt: skip
    site_id = None
    if with_site:
        site_id = (await add_site(owner, name=business_name, kind="business", **site))["id"]
        await db.execute(update(Site).where(Site.id == uuid.UUID(site_id)).values(district_id=district_id))
        await db.commit()
    return Joined(member, owner, site_id)
