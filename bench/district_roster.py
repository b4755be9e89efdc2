"""A district's roster on SQLite (issue 15): the CSV import's preview and confirm of a generated 2,000-row file, and
the coordinator's roster page and home with 2,000 members, each beside a peer measured in the same run.

- Preview (`roster_import.preview`: parse, check each row, match against the roster, keep the file in the
  database) and confirm (`roster_import.confirm`: parse and check again, bulk insert, commit), beside the standard
  library's csv module reading the same file plus a bare `executemany` INSERT of its rows into a plain SQLite
  table (sqlite3, one commit).
- GET /district/members (the first 100 members, the funnel's totals over all 2,000) and GET /district, signed in as
  the coordinator, in-process over ASGI (httpx), beside a bare Litestar app's hello route served the same way.
  A tenth of the members joined, with a site in the district, two cameras each, and some a device sharing on alert,
  so the funnel's correlated reads find something.

Targets: preview and confirm under 3 s each; each page under 300 ms (median of ROUNDS requests after a warm-up).
BENCH_QUICK=1 takes fewer rounds.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from litestar import Litestar, get

from bench.report import QUICK, Target, record

ROWS = 2000
ROUNDS = 5 if QUICK else 20
IMPORT_TARGET_S = 3.0
PAGE_TARGET_MS = 300.0
JOINED_SHARE = 10  # one member in ten joined, with a site and cameras


@get("/hello")
async def hello() -> dict[str, str]:
    return {"status": "ok", "service": "bare"}


def roster_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Business name", "Contact name", "Email", "Phone", "Street address", "Latitude", "Longitude"])
    for n in range(rows):
        position = [f"{43.03 + n / 1e6:.6f}", f"{-87.91 - n / 1e6:.6f}"]
        writer.writerow([f"Business {n:05d}", f"Contact {n}", f"owner{n}@shops.example", f"414-555-{n:04d}",
                         f"{n} N Water St, Milwaukee, WI", *position])  # fmt: skip
    return out.getvalue().encode()


def bare_import(content: bytes, directory: Path) -> float:
    """The peer: csv.reader over the same file and an executemany INSERT of its rows (sqlite3, one commit)."""
    started = time.perf_counter()
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))[1:]
    connection = sqlite3.connect(directory / "bare.db")
    connection.execute("CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, name TEXT, contact TEXT, email TEXT, "
                       "phone TEXT, address TEXT, latitude REAL, longitude REAL)")  # fmt: skip
    connection.executemany(
        "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(uuid.uuid4().hex, *row[:5], float(row[5]), float(row[6])) for row in rows],
    )
    connection.commit()
    connection.close()
    return time.perf_counter() - started


async def _joined_members(db, district_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    """Every JOINED_SHARE-th member joined: an owner account, a site in the district, two cameras; every fourth of
    those a paired device sharing on alert."""
    from sqlalchemy import insert, select

    from backend.accounts.models import Role, User, UserRole
    from backend.db import utcnow
    from backend.devices.models import EdgeDevice, Status
    from backend.districts.models import DistrictMember
    from backend.registry.models import Camera, Site

    now = utcnow()
    members = (await db.execute(select(DistrictMember.id).where(DistrictMember.district_id == district_id))).all()
    users, roles, sites, cameras, devices, links = [], [], [], [], [], []
    for index, (member_id,) in enumerate(members[::JOINED_SHARE]):
        user_id, site_id = uuid.uuid4(), uuid.uuid4()
        users.append({"id": user_id, "email": f"joined{index}@shops.example", "password_hash": None,
                      "display_name": f"Owner {index}", "time_zone": "America/Chicago"})  # fmt: skip
        roles.append({"user_id": user_id, "role": Role.OWNER.value})
        sites.append({"id": site_id, "owner_id": user_id, "district_id": district_id, "name": f"Shop {index}",
                      "address": f"{index} N Water St", "latitude": 43.03, "longitude": -87.91, "kind": "business",
                      "contact_phone": "(414) 555-0100", "contact_email": "", "contact_hours": "",
                      "investigator_note": ""})  # fmt: skip
        for name in ("Front door", "Back door"):
            cameras.append({"id": uuid.uuid4(), "site_id": site_id, "name": name, "latitude": 43.03,
                            "longitude": -87.91, "bearing_deg": 90, "field_of_view_deg": 90, "range_m": 30,
                            "placement": "outdoor", "recorder": "nvr_dvr", "retention_days": 14,
                            "note": ""})  # fmt: skip
        if index % 4 == 0:
            devices.append({"id": uuid.uuid4(), "owner_id": user_id, "site_id": site_id, "name": "Core",
                            "status": Status.ONLINE.value, "status_since": now, "paired_at": now,
                            "share_on_alert": True, "share_on_alert_since": now})  # fmt: skip
        links.append({"id": member_id, "user_id": user_id, "status": "joined", "joined_at": now, "invited_at": now})
    from sqlalchemy import update

    await db.execute(insert(User), users)
    await db.execute(insert(UserRole), roles)
    await db.execute(insert(Site), sites)
    await db.execute(insert(Camera), cameras)
    await db.execute(insert(EdgeDevice), devices)
    await db.execute(update(DistrictMember), links)
    await db.commit()


async def _timed_gets(client: httpx.AsyncClient, path: str) -> list[float]:
    for _ in range(3):  # warm-up: templates compiled, statements cached
        response = await client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await client.get(path)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    return timings


async def _run(url: str, directory: Path) -> dict:
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from backend.accounts import service as accounts
    from backend.accounts.models import Role
    from backend.app import create_app
    from backend.db import make_engine
    from backend.districts import roster_import
    from backend.districts.models import DistrictMember
    from backend.settings import Settings

    settings = Settings(database_url=url, secret_key="bench", var_dir=directory, show_demo_logins=False,
                        background_in_process=False)  # fmt: skip
    content = roster_csv(ROWS)
    engine = make_engine(settings)
    password = "roster-bench-password-1"
    async with AsyncSession(engine, expire_on_commit=False) as db:
        coordinator = await accounts.create_user(
            db, email="coordinator@bench.example", password=password, display_name="Bench Coordinator",
            roles=[Role.COORDINATOR], district_name="Bench BID",
        )  # fmt: skip
        started = time.perf_counter()
        preview = await roster_import.preview(db, coordinator, content)
        preview_s = time.perf_counter() - started
        started = time.perf_counter()
        result = await roster_import.confirm(db, coordinator, preview.import_id)
        confirm_s = time.perf_counter() - started
        if result.added != ROWS or preview.counts[roster_import.Verdict.NEW] != ROWS:
            raise RuntimeError(f"the import added {result.added} of {ROWS} rows")
        # Again: every row a duplicate, nothing written.
        started = time.perf_counter()
        again = await roster_import.preview(db, coordinator, content)
        again_result = await roster_import.confirm(db, coordinator, again.import_id)
        reimport_s = time.perf_counter() - started
        if again_result.added or again_result.updated:
            raise RuntimeError("importing the same file again changed the roster")
        await _joined_members(db, coordinator.district_id)
        members = await db.scalar(select(func.count()).select_from(DistrictMember))
    await engine.dispose()
    bare_s = statistics.median(bare_import(content, directory) for _ in range(3))

    app = create_app(settings)
    pages: dict[str, list[float]] = {}
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as client:
            await client.get("/health")  # the CSRF cookie, as a browser has it
            signed_in = await client.post(
                "/api/v1/auth/login", json={"email": "coordinator@bench.example", "password": password},
                headers={"x-csrftoken": client.cookies["csrftoken"]},
            )  # fmt: skip
            if signed_in.status_code != 200:
                raise RuntimeError(f"sign-in answered {signed_in.status_code}: {signed_in.text}")
            for path in ("/district/members", "/district", "/api/v1/district/members"):
                pages[path] = await _timed_gets(client, path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Litestar([hello])), base_url="http://b") as bare:
        pages["bare"] = await _timed_gets(bare, "/hello")
    return {"preview_s": preview_s, "confirm_s": confirm_s, "reimport_s": reimport_s, "bare_s": bare_s,
            "members": members, "pages": pages}  # fmt: skip


def main() -> None:
    print(f"\nDistrict roster on SQLite: import of a {ROWS:,}-row CSV (preview, confirm), the roster page and home "
          f"with {ROWS:,} members")  # fmt: skip
    from backend.db import migrate

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = f"sqlite+aiosqlite:///{directory / 'roster.db'}"
        migrate(url)
        result = asyncio.run(_run(url, directory))
    bare_s = result["bare_s"]
    print(f"  peer: csv.reader + executemany INSERT of the same {ROWS:,} rows (sqlite3): {bare_s * 1000:,.0f} ms")
    for label, key in (("preview", "preview_s"), ("confirm (import)", "confirm_s")):
        seconds = result[key]
        ok = seconds < IMPORT_TARGET_S
        print(f"  {label}: {seconds * 1000:,.0f} ms ({seconds / bare_s:.1f}x the peer)   target < "
              f"{IMPORT_TARGET_S:g} s  {'met' if ok else 'MISSED'}")  # fmt: skip
        record("District roster import (SQLite)", f"{label} of {ROWS:,} CSV rows", f"{seconds * 1000:,.0f} ms",
               peer=f"csv+executemany {bare_s * 1000:,.0f} ms", ratio=seconds / bare_s, measured=seconds,
               target=Target(IMPORT_TARGET_S, higher_is_better=False))  # fmt: skip
    print(f"  the same file again (preview + confirm, all duplicates): {result['reimport_s'] * 1000:,.0f} ms")
    bare_ms = statistics.median(result["pages"]["bare"]) * 1000
    print(f"  peer: bare Litestar GET /hello in-process over ASGI: median {bare_ms:.2f} ms ({ROUNDS} requests)")
    for path in ("/district/members", "/district", "/api/v1/district/members"):
        timings = sorted(result["pages"][path])
        median_ms = statistics.median(timings) * 1000
        worst_ms = timings[-1] * 1000
        ok = median_ms < PAGE_TARGET_MS
        print(
            f"  GET {path} ({result['members']:,} members): median {median_ms:.1f} ms, worst {worst_ms:.1f} ms "
            f"({median_ms / bare_ms:.0f}x the peer)   target < {PAGE_TARGET_MS:g} ms  {'met' if ok else 'MISSED'}"
        )
        record("District roster pages (SQLite, in-process)", f"GET {path}, {result['members']:,} members, median",
               f"{median_ms:.1f} ms", peer=f"bare hello {bare_ms:.2f} ms", ratio=median_ms / bare_ms,
               measured=median_ms, target=Target(PAGE_TARGET_MS, higher_is_better=False))  # fmt: skip


if __name__ == "__main__":
    main()
