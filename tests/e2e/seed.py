"""Seeding the e2e server's database with what a person would not type in a browser (agency accounts, requests
sent from another desk), through the same services the app uses. Playwright's sync API holds this thread's event
loop, so the work runs on a thread of its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import make_engine
from backend.registry import service as registry
from backend.registry.models import Placement, Recorder, SiteKind
from backend.registry.schemas import CameraIn, SiteIn
from backend.requests import service as requests
from backend.requests.models import RequestType
from backend.requests.schemas import AreaRequestIn
from backend.settings import Settings

T = TypeVar("T")
INCIDENT = (43.05875, -87.88415)


def run(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def with_db() -> T:
        engine = make_engine(Settings(database_url=database_url, secret_key="seed", var_dir=Path("/tmp")))
        try:
            async with AsyncSession(engine, expire_on_commit=False) as db:
                return await work(db)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, with_db()).result()


def investigator(
    database_url: str, email: str, password: str, agency: str = "Milwaukee PD", totp_secret: str | None = None
) -> None:
    """An investigator's account, as an administrator makes it; with `totp_secret`, its second factor is set up."""

    async def work(db: AsyncSession) -> None:
        user = await accounts.create_user(
            db, email=email, password=password, display_name="Det. Ivy", roles=[Role.INVESTIGATOR], agency_name=agency
        )
        if totp_secret:
            user.totp_secret, user.totp_confirmed_at = totp_secret, dt.datetime.now(dt.UTC)
            await db.commit()

    run(database_url, work)


def owner_with_camera(
    database_url: str, email: str, password: str, camera: str = "Back door", offset_m: float = 20
) -> uuid.UUID:
    """An owner with one site and one camera `offset_m` north of the incident point; returns the camera's id."""

    async def work(db: AsyncSession) -> uuid.UUID:
        owner = await accounts.create_user(
            db, email=email, password=password, display_name="Dana Rivera", roles=[Role.OWNER]
        )
        latitude = INCIDENT[0] + offset_m / 111_320
        site = await registry.create_site(
            db, owner.id,
            SiteIn(name="Corner bakery", address="2200 N Farwell Ave", latitude=latitude, longitude=INCIDENT[1],
                   kind=SiteKind.BUSINESS, contact_phone="+1 414 555 0134"),
        )  # fmt: skip
        created = await registry.create_camera(
            db, owner.id, site.id,
            CameraIn(name=camera, bearing_deg=180, placement=Placement.OUTDOOR, recorder=Recorder.NVR_DVR,
                     retention_days=14),
        )  # fmt: skip
        return created.id

    return run(database_url, work)


def send_request(database_url: str, investigator_email: str, camera_ids: list[uuid.UUID], case: str) -> list[str]:
    async def work(db: AsyncSession) -> list[str]:
        detective = await accounts.get_user_by_email(db, investigator_email)
        assert detective is not None
        now = dt.datetime.now(dt.UTC)
        sent = await requests.send_area_request(
            db, detective,
            AreaRequestIn(camera_ids=camera_ids, case_number=case, request_type=RequestType.VOLUNTARY,
                          incident_latitude=INCIDENT[0], incident_longitude=INCIDENT[1],
                          window_start=now - dt.timedelta(hours=3), window_end=now - dt.timedelta(hours=2),
                          message="Car break-in on Farwell."),
            ip="127.0.0.1",
        )  # fmt: skip
        return [str(r.id) for r in sent]

    return run(database_url, work)
