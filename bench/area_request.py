"""An area request to 500 owners: the time to commit the 500 requests, their custody rows, in-app items and
push outbox rows in one transaction. Target: under 1 s. SQLite, and PostgreSQL: a scratch database on the server at
PORCHLIGHT_BENCH_DATABASE_URL (default the local one)."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, User, UserRole
from backend.db import make_engine, migrate
from backend.registry import geo
from backend.registry.models import Camera, Site
from backend.requests import service
from backend.requests.schemas import AreaRequestIn
from backend.settings import Settings
from bench.report import QUICK, Target, record
from push.models import PushSubscription

OWNERS = 500
RUNS = 2 if QUICK else 5
TARGET_SECONDS = 1.0


async def _setup(db: AsyncSession) -> tuple[User, list[uuid.UUID]]:
    investigator = await accounts.create_user(
        db, email="det@bench.example", password=None, display_name="Det", roles=[Role.INVESTIGATOR],
        agency_name="Bench PD",
    )  # fmt: skip
    users, roles, sites, cameras, subscriptions = [], [], [], [], []
    for n in range(OWNERS):
        owner_id, site_id, camera_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        lat, lon = 43.04 + (n % 25) * 0.0001, -87.91 + (n // 25) * 0.0001
        users.append({"id": owner_id, "email": f"o{n}@bench.example", "password_hash": None, "display_name": f"O{n}"})
        roles.append({"user_id": owner_id, "role": "owner"})
        sites.append({"id": site_id, "owner_id": owner_id, "name": "Home", "address": "1 Main St", "latitude": lat,
                      "longitude": lon, "kind": "home", "contact_phone": "555-0100"})  # fmt: skip
        cameras.append({"id": camera_id, "site_id": site_id, "name": "Door", "latitude": lat, "longitude": lon,
                        "bearing_deg": 90, "field_of_view_deg": 90, "range_m": 30, "placement": "outdoor",
                        "recorder": "cloud", "retention_days": 14, "geo_cell": geo.cell_id(lat, lon)})  # fmt: skip
        subscriptions.append({"id": uuid.uuid4(), "user_id": owner_id, "endpoint": f"https://fcm.googleapis.com/fcm/send/{n}",
                              "p256dh": "x", "auth": "y", "name": "Phone", "muted_kinds": []})  # fmt: skip
    for model, rows in (
        (User, users),
        (UserRole, roles),
        (Site, sites),
        (Camera, cameras),
        (PushSubscription, subscriptions),
    ):
        await db.execute(insert(model), rows)
    await db.commit()
    return investigator, [c["id"] for c in cameras]


async def _run(url: str) -> list[float]:
    engine = make_engine(Settings(database_url=url, secret_key="bench", var_dir=Path(tempfile.gettempdir())))
    timings = []
    async with AsyncSession(engine, expire_on_commit=False) as db:
        investigator, camera_ids = await _setup(db)
        now = dt.datetime.now(dt.UTC)
        for run in range(RUNS):
            data = AreaRequestIn(
                camera_ids=camera_ids, case_number=f"BENCH-{run}", request_type="voluntary",
                incident_latitude=43.041, incident_longitude=-87.909,
                window_start=now - dt.timedelta(hours=5), window_end=now - dt.timedelta(hours=4),
            )  # fmt: skip
            started = time.perf_counter()
            sent = await service.send_area_request(db, investigator, data, ip="127.0.0.1")
            timings.append(time.perf_counter() - started)
            assert len(sent) == OWNERS
    await engine.dispose()
    return timings


def _report(name: str, timings: list[float]) -> None:
    median = statistics.median(timings)
    verdict = "ok" if max(timings) < TARGET_SECONDS else "MISSED"
    print(f"  {name:<11} median {median * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms over {RUNS} runs"
          f"   target < {TARGET_SECONDS * 1000:.0f} ms  {verdict}")  # fmt: skip
    record(f"Area request to {OWNERS} owners", f"{name}, worst of {RUNS}", f"{max(timings) * 1000:.0f} ms",
           measured=max(timings) * 1000, target=Target(TARGET_SECONDS * 1000, higher_is_better=False))  # fmt: skip


def main() -> None:
    print(f"\nArea request to {OWNERS} owners (requests + custody + in-app items + push outbox, one commit)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'area.db'}"
        migrate(url)
        _report("SQLite", asyncio.run(_run(url)))
    from bench.device_heartbeats import postgres_reachable, server_url

    server = server_url()
    if postgres_reachable():
        import asyncpg
        from sqlalchemy.engine import make_url

        name = f"porchlight_bench_{uuid.uuid4().hex[:8]}"
        dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)

        async def execute(sql: str) -> None:
            connection = await asyncpg.connect(dsn)
            try:
                await connection.execute(sql)
            finally:
                await connection.close()

        asyncio.run(execute(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            migrate(url)
            _report("PostgreSQL", asyncio.run(_run(url)))
        finally:
            asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
