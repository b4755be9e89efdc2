"""Hot reads (backend.hot_reads) give what SQLAlchemy would read, with the same Python types, on both databases; in
a transaction they see what the session wrote; statements they cannot run are refused when first compiled, saying
what to change."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import uuid

import asyncpg
import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import User
from backend.db import holds_connection, lease, sqlite_reader
from backend.hot_reads import HotRead
from backend.registry.models import Camera, Site
from tests.databases import POSTGRES_URL

SITES, CAMERAS = Site.__table__, Camera.__table__
_SITES_AND_CAMERAS = (
    select(*SITES.c, *CAMERAS.c)
    .select_from(SITES.join(CAMERAS))
    .where(SITES.c.owner_id == bindparam("owner_id"))
    .order_by(CAMERAS.c.name)
)
SITES_AND_CAMERAS = HotRead(_SITES_AND_CAMERAS, SITES.c, CAMERAS.c)
SITE_NAMES = HotRead(select(SITES.c.name).where(SITES.c.owner_id == bindparam("owner_id")), SITES.c.name)


async def _owner_with_site(db: AsyncSession) -> tuple[User, Site]:
    owner = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.org", display_name="Pat")
    site = Site(owner_id=owner.id, name="Corner shop", address="1 Main St", latitude=43.04, longitude=-87.91,
                kind="business", contact_phone="555-0100")  # fmt: skip
    site.cameras = [
        Camera(
            name=f"Camera {n}",
            latitude=43.04,
            longitude=-87.91,
            bearing_deg=90 * n,
            field_of_view_deg=90,
            range_m=30,
            placement="outdoor",
            recorder="cloud",
            retention_days=14,
        )  # fmt: skip
        for n in range(2)
    ]
    db.add_all([owner, site])
    await db.commit()
    return owner, site


async def test_rows_are_what_sqlalchemy_reads_with_the_same_types(db: AsyncSession) -> None:
    owner, _site = await _owner_with_site(db)
    expected = (await db.execute(_SITES_AND_CAMERAS, {"owner_id": owner.id})).all()
    await db.commit()  # no transaction open: on PostgreSQL the read leases a connection of its own

    rows = await SITES_AND_CAMERAS.rows(db, owner_id=owner.id)

    assert [tuple(site) + tuple(camera) for site, camera in rows] == [tuple(row) for row in expected]
    site, camera = rows[0]
    assert (site.name, camera.name, camera.bearing_deg) == ("Corner shop", "Camera 0", 0)
    assert isinstance(site.id, uuid.UUID) and camera.site_id == site.id
    assert isinstance(camera.created_at, dt.datetime) and camera.created_at.utcoffset() == dt.timedelta(0)
    assert camera.paused_at is None
    assert await SITES_AND_CAMERAS.rows(db, owner_id=uuid.uuid4()) == []  # another owner's id: nothing


async def test_in_a_transaction_the_read_sees_what_the_session_wrote(db: AsyncSession) -> None:
    owner, site = await _owner_with_site(db)
    owner_id, site_id = owner.id, site.id
    site.name = "Renamed, not yet flushed"
    db.add(Site(owner_id=owner.id, name="Added, not yet flushed", address="2 Main St", latitude=43.05,
                longitude=-87.92, kind="home", contact_phone="555-0101"))  # fmt: skip

    assert sorted(name for (name,) in await SITE_NAMES.rows(db, owner_id=owner.id)) == [
        "Added, not yet flushed",
        "Renamed, not yet flushed",
    ]
    await db.rollback()
    assert [name for (name,) in await SITE_NAMES.rows(db, owner_id=owner_id)] == ["Corner shop"]

    site = await db.get(Site, site_id)
    assert site is not None
    site.name = "Flushed, not committed"
    await db.flush()  # written on the session's connection, seen by none other until the commit
    assert [name for (name,) in await SITE_NAMES.rows(db, owner_id=owner_id)] == ["Flushed, not committed"]


async def test_before_the_session_uses_a_connection_a_read_takes_none_and_sees_the_last_commit(
    db: AsyncSession,
) -> None:
    """PostgreSQL: a pooled connection, given back; SQLite: this thread's read-only connection, read in place."""
    owner, _site = await _owner_with_site(db)
    assert [name for (name,) in await SITE_NAMES.rows(db, owner_id=owner.id)] == ["Corner shop"]
    assert not holds_connection(db.sync_session)

    async with AsyncSession(db.bind) as elsewhere:
        await elsewhere.execute(update(Site).where(Site.owner_id == owner.id).values(name="Renamed elsewhere"))
        await elsewhere.commit()
    assert [name for (name,) in await SITE_NAMES.rows(db, owner_id=owner.id)] == ["Renamed elsewhere"]

    assert isinstance(db.bind, AsyncEngine)
    reader = sqlite_reader(db.bind.sync_engine)
    assert (reader is None) == (db.bind.dialect.name == "postgresql")
    if reader is not None:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("DELETE FROM sites")
    assert [name for (name,) in await SITE_NAMES.rows(db, owner_id=owner.id)] == ["Renamed elsewhere"]


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL's pool")
async def test_on_postgresql_a_read_opens_reuses_replaces_or_waits_for_a_pooled_connection(db: AsyncSession) -> None:
    """backend.db.lease: an idle connection is lent at once; with none idle the read opens one, or waits for one
    to come back when all are lent; one the server closed while idle is replaced. Each is given back after."""
    owner, _site = await _owner_with_site(db)
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    await engine.dispose()
    pool = engine.sync_engine.pool  # the new one

    async def names() -> list[str]:
        return [name for (name,) in await SITE_NAMES.rows_outside(engine, owner_id=owner.id)]

    assert await names() == ["Corner shop"]  # opened
    assert (pool.checkedin(), pool.checkedout()) == (1, 0)  # type: ignore[attr-defined]
    taking = lease(engine)
    with pytest.raises(StopIteration) as lent_at_once:
        taking.send(None)  # an idle one: lent without awaiting anything
    lent = lent_at_once.value.value
    backend_pid = await lent.driver_connection.fetchval("SELECT pg_backend_pid()")
    lent.close()
    assert await names() == ["Corner shop"]  # the idle one again
    assert (pool.checkedin(), pool.checkedout()) == (1, 0)  # type: ignore[attr-defined]

    admin = await asyncpg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:  # the server ends the idle connection
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend_pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the event loop reads the closed socket
    assert await names() == ["Corner shop"]

    everything = [await lease(engine) for _ in range(pool.size())]  # type: ignore[attr-defined]
    waiting = asyncio.ensure_future(names())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    everything.pop().close()
    assert await asyncio.wait_for(waiting, 5) == ["Corner shop"]
    for connection in everything:
        connection.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.skipif(bool(POSTGRES_URL), reason="a lock on the SQLite file")
async def test_on_sqlite_a_read_finding_the_file_locked_waits_on_a_pooled_connection(db: AsyncSession) -> None:
    """The read-only connection reads on the event loop, so it never waits for a lock: it leaves that to the engine's
    connections, which wait in their own thread (busy_timeout), here until the lock is let go."""
    owner, _site = await _owner_with_site(db)
    engine = db.bind
    assert isinstance(engine, AsyncEngine)
    await engine.dispose()  # nobody has the file open, so one connection can lock all others out
    locker = sqlite3.connect(engine.url.database or "", isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    asyncio.get_running_loop().call_later(0.3, lambda: (locker.execute("COMMIT"), locker.close()))

    assert [name for (name,) in await SITE_NAMES.rows_outside(engine, owner_id=owner.id)] == ["Corner shop"]
    assert sqlite_reader(engine.sync_engine) is not None  # and the next read is in place again


async def test_statements_it_cannot_run_are_refused_saying_what_to_change(db: AsyncSession) -> None:
    untyped = HotRead(select(SITES.c.name).where(SITES.c.name.is_not(None), bindparam("named") == "x"), SITES.c.name)
    with pytest.raises(ValueError, match=r"bind parameter 'named' needs a type \(bindparam\('named', type_=\.\.\.\)\)"):
        await untyped.rows(db, named="x")

    listed = HotRead(select(SITES.c.name).where(SITES.c.id.in_(bindparam("ids", expanding=True))), SITES.c.name)
    with pytest.raises(ValueError, match="cannot expand bind parameter 'ids'"):
        await listed.rows(db, ids=[uuid.uuid4()])

    with pytest.raises(ValueError, match="the parts name 1 columns; the statement selects 2"):
        HotRead(select(SITES.c.name, SITES.c.address), SITES.c.name)
