"""The request path's database lifecycle: a GET's plain reads hold no transaction open on PostgreSQL (no BEGIN, no
ROLLBACK), yet a write in any request, a GET included, commits or rolls back whole; a lock taken in a GET is held
until its request ends; a lost connection during a GET's read still answers 503 (tests/test_database_faults.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar import Litestar, get, post
from litestar.params import FromQuery
from litestar.routes import HTTPRoute
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.settings import Settings
from backend.web import Db
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.helpers import sign_up

postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="transaction states are PostgreSQL's pg_stat_activity")


class Refused(Exception):
    """Raised by a test route after its writes: the request fails, its writes must not stay."""


@pytest.fixture
async def observer(settings: Settings) -> AsyncIterator[asyncpg.Connection | None]:
    """A connection outside the app's pool that sees the app's connections in pg_stat_activity."""
    if not POSTGRES_URL:
        yield None
        return
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


async def _in_transaction(observer: asyncpg.Connection | None) -> int:
    """How many of the app's connections hold a transaction open between statements."""
    if observer is None:
        return -1
    return await observer.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state LIKE 'idle in transaction%'"
    )


@pytest.fixture
def probe_routes(app: Litestar, observer: asyncpg.Connection | None) -> None:
    """Routes of these tests only: each says whether its connection held a transaction open after its statements."""

    async def rename_both(db: AsyncSession, fail: bool) -> dict[str, int]:
        users = (await db.execute(select(User.id).order_by(User.email))).scalars().all()
        read = await _in_transaction(observer)
        for user_id in users:
            await db.execute(update(User).where(User.id == user_id).values(display_name="Renamed"))
        written = await _in_transaction(observer)
        if fail:
            raise Refused
        await db.commit()
        return {"after_read": read, "after_write": written}

    @get("/api/v1/test-path/rename")
    async def rename_in_a_get(db: Db, fail: FromQuery[bool] = False) -> dict[str, int]:
        return await rename_both(db, fail)

    @post("/api/v1/test-path/rename", status_code=200)
    async def rename_in_a_post(db: Db, fail: FromQuery[bool] = False) -> dict[str, int]:
        return await rename_both(db, fail)

    @get("/api/v1/test-path/locks")
    async def lock_in_a_get(db: Db) -> dict[str, int]:
        await db.execute(select(User.id).limit(1).with_for_update())
        row_lock = await _in_transaction(observer)
        await db.rollback()
        await db.execute(select(func.pg_advisory_xact_lock(uuid.uuid4().int % 2**31)))
        return {"row_lock": row_lock, "advisory_lock": await _in_transaction(observer)}

    for handler in (rename_in_a_get, rename_in_a_post, lock_in_a_get):
        app.register(handler)


async def _names(db: AsyncSession) -> set[str]:
    db.expire_all()
    return set((await db.execute(select(User.display_name))).scalars())


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_write_in_a_request_commits_whole(client: Client, db: AsyncSession, probe_routes: None, method: str):
    await sign_up(client, "first@example.org", name="First")
    await sign_up(client, "second@example.org", name="Second")
    response = await client.send_json(method, "/api/v1/test-path/rename")
    assert response.status_code == 200, response.text
    assert await _names(db) == {"Renamed"}
    if POSTGRES_URL:
        # A GET's read held no transaction open (a POST's did, as always); its first write began one.
        assert response.json() == {"after_read": 0 if method == "GET" else 1, "after_write": 1}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_failing_after_its_writes_keeps_none(
    client: Client, db: AsyncSession, probe_routes: None, method: str
):
    await sign_up(client, "first@example.org", name="First")
    await sign_up(client, "second@example.org", name="Second")
    response = await client.send_json(method, "/api/v1/test-path/rename", params={"fail": True})
    assert response.status_code == 500
    assert await _names(db) == {"First", "Second"}


@postgres_only
async def test_locks_taken_in_a_get_are_held_in_a_transaction(client: Client, probe_routes: None) -> None:
    await sign_up(client, "locker@example.org")
    response = await client.get("/api/v1/test-path/locks")
    assert response.status_code == 200, response.text
    assert response.json() == {"row_lock": 1, "advisory_lock": 1}


@postgres_only
async def test_signed_in_reads_leave_no_transaction_open(
    client: Client, observer: asyncpg.Connection, probe_routes: None
) -> None:
    """After the answers, no connection of the app is left in a transaction (each went back to the pool clean)."""
    await sign_up(client, "reader@example.org")
    for path in ("/health", "/api/v1/sites", "/api/v1/requests", "/api/v1/notifications", "/sites"):
        assert (await client.get(path)).status_code == 200, path
    assert await _in_transaction(observer) == 0


async def test_a_handlers_dependencies_are_resolved_one_after_another(app: Litestar) -> None:
    """Never side by side (backend.web.resolve_dependencies_in_turn): every dependency that waits, waits on the
    request's one database session; each comes after those it needs."""
    pairs = [(route, model) for route in app.routes if isinstance(route, HTTPRoute)
             for _handler, model in route.route_handler_map.values()]  # fmt: skip
    assert any(len(model.dependency_batches) > 2 for _route, model in pairs)  # the owner's routes: db, area, owner
    for route, model in pairs:
        resolved: set[str] = set()
        for batch in model.dependency_batches:
            assert len(batch) == 1, f"{route.path}: {sorted(d.key for d in batch)} resolved side by side"
            (dependency,) = batch
            assert {needed.key for needed in dependency.dependencies} <= resolved, route.path
            resolved.add(dependency.key)
