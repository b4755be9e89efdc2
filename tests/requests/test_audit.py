"""The custody log as a tamper-evident chain per agency: every row carries its predecessor's SHA-256,
`porchlight audit verify` names a changed, removed or inserted row, the custody report carries the hashes, and on
PostgreSQL the application works with a database user that cannot change or remove custody rows."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import anyio
import asyncpg
import msgspec
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Agency, Role
from backend.app import create_app
from backend.cli import main
from backend.db import app_grants, make_engine, utcnow
from backend.registry import geo
from backend.registry.models import Camera, Site
from backend.requests import audit, receipts
from backend.requests.models import CustodyAction, CustodyEvent
from backend.requests.schemas import AreaRequestIn
from backend.requests.service import send_area_request
from backend.settings import Settings
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.helpers import PASSWORD, add_camera, add_site, sign_up
from tests.requests.conftest import investigator, request_body, send
from tests.requests.test_evidence import CLIP, upload

EVENTS = CustodyEvent.__table__


async def rows(db: AsyncSession) -> list[dict[str, Any]]:
    return [dict(r) for r in (await db.execute(select(EVENTS).order_by(EVENTS.c.id))).mappings()]


async def two_agencies(client: Client, other_client: Client, area: dict, db: AsyncSession) -> dict[str, list[int]]:
    """Milwaukee PD asks both owners (2 rows), Other County SO too (2 rows), then Milwaukee PD opens a contact card:
    the ids of each agency's rows in order."""
    sent = await send(client, area)
    await investigator(db, other_client, "det@other.example", "Other County SO")
    response = await other_client.send_json(
        "POST", "/api/v1/agency/requests", request_body(area["cameras"], case_number="OC-26-77")
    )
    assert response.status_code == 201, response.text
    assert (await client.get(f"/api/v1/agency/requests/{sent[0]['id']}/contact")).status_code == 200
    agencies = dict((await db.execute(select(Agency.name, Agency.id))).tuples().all())
    by_agency: dict[str, list[int]] = {"Milwaukee PD": [], "Other County SO": []}
    for row in await rows(db):
        name = next(n for n, i in agencies.items() if i == row["agency_id"])
        by_agency[name].append(row["id"])
    return by_agency


async def test_every_access_is_chained_per_agency_and_the_report_carries_the_hashes(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    ids = await two_agencies(client, other_client, area, db)
    assert len(ids["Milwaukee PD"]) == 3 and len(ids["Other County SO"]) == 2
    by_id = {r["id"]: r for r in await rows(db)}
    for chain in ids.values():
        previous = audit.GENESIS
        for event_id in chain:
            row = by_id[event_id]
            assert row["prev_hash"] == previous
            assert row["hash"] == audit.row_hash(previous, SimpleNamespace(**row))  # type: ignore[arg-type]
            previous = row["hash"]

    report = (await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234"})).json()
    assert [r["id"] for r in report] == ids["Milwaukee PD"]
    assert [(r["prev_hash"], r["hash"]) for r in report] == [
        (by_id[i]["prev_hash"], by_id[i]["hash"]) for i in ids["Milwaukee PD"]
    ]
    as_csv = await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234", "format": "csv"})
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(int(r["id"]), r["hash"]) for r in lines] == [(r["id"], r["hash"]) for r in report]
    assert lines[0]["prev_hash"] == audit.GENESIS


async def test_an_area_request_to_many_owners_chains_their_rows_in_order_after_the_last_one(db: AsyncSession) -> None:
    """The rows of one area request are written together: each still follows the one before it, the first follows
    the chain's last row, and `verify` finds nothing wrong."""
    detective = await accounts.create_user(
        db, email="det@mpd.example", password=None, display_name="Det", roles=[Role.INVESTIGATOR],
        agency_name="Milwaukee PD",
    )  # fmt: skip
    camera_ids = []
    for n in range(40):
        owner = await accounts.create_user(
            db, email=f"o{n}@example.com", password=None, display_name=f"O{n}", roles=[Role.OWNER]
        )
        lat, lon = 43.04 + n * 0.0001, -87.91
        site = Site(owner_id=owner.id, name="Home", address="1 Main St", latitude=lat, longitude=lon, kind="home")
        db.add(site)
        await db.flush()
        camera = Camera(
            site_id=site.id, name="Door", latitude=lat, longitude=lon, geo_cell=geo.cell_id(lat, lon), bearing_deg=90,
            field_of_view_deg=90, range_m=30, placement="outdoor", recorder="cloud", retention_days=14,
        )  # fmt: skip
        db.add(camera)
        await db.flush()
        camera_ids.append(camera.id)
    await db.commit()
    for case in ("MPD-1", "MPD-2"):
        data = msgspec.convert(request_body([str(c) for c in camera_ids], case_number=case), AreaRequestIn)
        assert len(await send_area_request(db, detective, data, ip="203.0.113.9")) == 40

    chain = await rows(db)
    assert [r["case_number"] for r in chain] == ["MPD-1"] * 40 + ["MPD-2"] * 40
    previous = audit.GENESIS
    for row in chain:
        assert row["prev_hash"] == previous
        assert row["hash"] == audit.row_hash(previous, SimpleNamespace(**row))  # type: ignore[arg-type]
        previous = row["hash"]
    check = await audit.verify(db)
    assert check.problems == [] and check.events == 80


def cli(settings: Settings, database_url: str) -> Any:
    runner = CliRunner(env={"PORCHLIGHT_DATABASE_URL": database_url, "PORCHLIGHT_VAR_DIR": str(settings.var_dir)})
    return lambda: anyio.to_thread.run_sync(runner.invoke, main, ["audit", "verify"])


async def test_audit_verify_names_a_changed_a_removed_and_an_inserted_row(
    client: Client, other_client: Client, area: dict, db: AsyncSession, settings: Settings, database_url: str
) -> None:
    ids = await two_agencies(client, other_client, area, db)
    (a1, a2, a3), (b1, _) = ids["Milwaukee PD"], ids["Other County SO"]
    by_id = {r["id"]: r for r in await rows(db)}
    verify = cli(settings, database_url)

    clean = await verify()
    assert clean.exit_code == 0, clean.output
    assert f"Milwaukee PD: 3 events, head event {a3} {by_id[a3]['hash']}" in clean.output
    assert "Other County SO: 2 events" in clean.output
    assert "5 custody events in 2 chains checked: 0 problems." in clean.output

    async def change(statement: Any) -> None:
        await db.execute(statement)
        await db.commit()

    await change(update(EVENTS).where(EVENTS.c.id == a2).values(ip="10.9.9.9"))
    changed = await verify()
    assert changed.exit_code == 1
    assert f"custody event {a2} (Milwaukee PD): its content was changed after it was recorded" in changed.output
    await change(update(EVENTS).where(EVENTS.c.id == a2).values(ip=by_id[a2]["ip"]))
    assert (await verify()).exit_code == 0

    await change(delete(EVENTS).where(EVENTS.c.id == a2))
    removed = await verify()
    assert removed.exit_code == 1 and "1 problems" in removed.output
    assert f"custody event {a3} (Milwaukee PD): does not follow event {a1}: a row between them was removed" in (
        removed.output
    )
    await change(insert(EVENTS).values(**by_id[a2]))
    assert (await verify()).exit_code == 0

    # A forged access slipped into Milwaukee PD's chain where another agency's row was: chained properly to the
    # row before it, it still breaks the link of the row after it.
    forged = {
        **by_id[a2],
        "id": b1,
        "action": CustodyAction.VIEW.value,
        "detail": "forged",
        "prev_hash": by_id[a2]["hash"],
    }
    forged["hash"] = audit.row_hash(forged["prev_hash"], SimpleNamespace(**forged))  # type: ignore[arg-type]
    await change(delete(EVENTS).where(EVENTS.c.id == b1))
    await change(insert(EVENTS).values(**forged))
    inserted = await verify()
    assert inserted.exit_code == 1
    assert f"custody event {a3} (Milwaukee PD): follows event {a2}, so event(s) {b1} were inserted" in inserted.output
    assert "(Other County SO): the first row of the chain follows a row that is no longer there" in inserted.output


@pytest.mark.skipif(not POSTGRES_URL, reason="SQLite has one writer at a time; PostgreSQL writers run at once")
async def test_concurrent_writers_of_one_agency_make_one_chain(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    (first, *_) = await send(client, area)
    agency_id = await db.scalar(select(Agency.id).where(Agency.name == "Milwaukee PD"))
    engine = make_engine(settings)

    async def write(n: int) -> None:
        async with AsyncSession(engine) as session:
            event = CustodyEvent(
                at=utcnow(), action=CustodyAction.VIEW, actor_name=f"Writer {n}", agency_id=agency_id,
                request_id=uuid.UUID(first["id"]), case_number="MPD-26-1234",
            )  # fmt: skip
            await audit.append(session, event)
            await asyncio.sleep(0.01)  # hold the chain a moment, as a request with more work would
            await session.commit()

    try:
        await asyncio.gather(*(write(n) for n in range(20)))
    finally:
        await engine.dispose()
    check = await audit.verify(db)
    assert check.problems == [] and check.events == 22


@pytest.mark.skipif(not POSTGRES_URL, reason="database grants are PostgreSQL's")
async def test_the_app_works_as_a_user_that_cannot_change_or_remove_custody_rows(
    app: Any, db: AsyncSession, settings: Settings, database_url: str
) -> None:
    role = f"porchlight_app_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    await connection.execute(f'CREATE ROLE "{role}" LOGIN')
    for statement in app_grants(role):
        await connection.execute(statement)
    limited_url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    limited = replace(settings, database_url=limited_url)
    try:
        application = create_app(limited)
        async with application.lifespan(), Client(application) as owner, Client(application) as detective:
            await sign_up(owner, "owner@example.com")
            site = await add_site(owner)
            camera = await add_camera(owner, site["id"])
            await investigator(db, detective, "det@mpd.example", "Milwaukee PD")
            sent = await detective.send_json("POST", "/api/v1/agency/requests", request_body([camera["id"]]))
            request_id = sent.json()[0]["id"]
            assert (await detective.get(f"/api/v1/agency/requests/{request_id}/contact")).status_code == 200
            accepted = await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
            assert accepted.status_code == 200
            clip = await upload(owner, request_id)
            download = await detective.get(f"/api/v1/agency/clips/{clip['id']}/download")
            assert download.status_code == 200 and download.content == CLIP
            engine = make_engine(limited)
            try:
                async with AsyncSession(engine) as session:
                    assert await receipts.send_receipts(session) == 1
                    assert (await audit.verify(session)).problems == []
                    with pytest.raises(DBAPIError, match="permission denied"):
                        await session.execute(update(EVENTS).values(ip=""))
                    await session.rollback()
                    with pytest.raises(DBAPIError, match="permission denied"):
                        await session.execute(delete(EVENTS))
            finally:
                await engine.dispose()
            deleted = await owner.send_json("DELETE", "/api/v1/me", {"password": PASSWORD})
            assert deleted.status_code == 204
            report = await detective.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234"})
            assert [r["action"] for r in report.json()] == ["request_sent", "contact_viewed", "upload", "download"]
    finally:
        await connection.execute(f'DROP OWNED BY "{role}"')
        await connection.execute(f'DROP ROLE "{role}"')
        await connection.close()
