"""The signed-in request path: a session's holder and roles come from one query, or none on PostgreSQL once the app
process remembers the token (accounts/session_cache.py); an ended session is refused on the very next request, by
any app process, two in one test process or two real servers; and the lists a signed-in owner reads most say what
they said before they were read without ORM objects."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.util import await_only

from backend.accounts import service as accounts
from backend.accounts.models import Role, User, UserRole, UserSession
from backend.accounts.session_cache import USER_COLUMNS, Holder, SessionCache
from backend.app import create_app
from backend.db import make_engine, sqlite_reader, utcnow
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.settings import Settings
from backend.tokens import token_hash
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.helpers import PASSWORD, SITE, add_camera, add_site, sign_up
from tests.live_server import running_server


@pytest.fixture
async def second_app(settings: Settings, app: Litestar) -> AsyncIterator[Litestar]:
    """Another app on the same database, with its own engine: a second server process, as far as a session goes."""
    application = create_app(settings)
    async with application.lifespan():
        yield application


async def _agency_account(db: AsyncSession, client: Client) -> User:
    """An investigator who is also a live desk operator, signed in on `client`."""
    user = await accounts.create_user(
        db, email="det@example.org", password=PASSWORD, display_name="Det. Kay",
        roles=[Role.INVESTIGATOR, Role.LIVE_DESK], agency_name="Milwaukee PD",
    )  # fmt: skip
    token = await accounts.start_session(db, user, days=30, user_agent="test", ip="127.0.0.1")
    client.cookies.set("porchlight_session", token)
    return user


async def _sign_out(db: AsyncSession, client: Client, user: User) -> None:
    assert (await client.send_json("POST", "/api/v1/auth/logout")).status_code == 204


async def _change_password(db: AsyncSession, client: Client, user: User) -> None:
    await accounts.change_password(db, user, PASSWORD, "another-lantern-by-the-door-43")


async def _remove_role(db: AsyncSession, client: Client, user: User) -> None:
    await accounts.remove_role(db, user.id, Role.LIVE_DESK.value)


async def _disable(db: AsyncSession, client: Client, user: User) -> None:
    await accounts.set_disabled(db, user.id, disabled=True)


async def _reset_second_factor(db: AsyncSession, client: Client, user: User) -> None:
    await accounts.reset_second_factor(db, user.id)


@pytest.mark.parametrize(
    "revoke", [_sign_out, _change_password, _remove_role, _disable, _reset_second_factor], ids=lambda f: f.__name__
)
async def test_an_ended_session_is_refused_on_the_very_next_request_by_another_app_process(
    db: AsyncSession,
    client: Client,
    second_app: Litestar,
    revoke: Callable[[AsyncSession, Client, User], Awaitable[None]],
) -> None:
    user = await _agency_account(db, client)
    async with Client(second_app) as elsewhere:
        elsewhere.cookies.set("porchlight_session", client.cookies["porchlight_session"])
        assert (await elsewhere.get("/api/v1/me")).status_code == 200
        assert (await client.get("/api/v1/me")).status_code == 200

        await revoke(db, client, user)

        assert (await elsewhere.get("/api/v1/me")).status_code == 401
        assert (await elsewhere.get("/requests", follow_redirects=False)).status_code in (302, 303)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")


@asynccontextmanager
async def _statements(db: AsyncSession) -> AsyncIterator[list[str]]:
    """The statements `db`'s engine sends to the database while the block runs, as its driver sends them, whether
    through SQLAlchemy or on the driver's own connection (backend.hot_reads); transaction control is not counted.
    sqlite3's trace sees them all (the hot reads' own read-only connection's too); asyncpg logs the queries run on
    its connection but not the prepared statements SQLAlchemy runs, which SQLAlchemy's own event sees. Its
    connections are made anew, each with the observers."""
    statements: list[str] = []

    def seen(statement: str) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            statements.append(statement)

    def observe(dbapi_connection: Any, _record: object) -> None:
        driver = dbapi_connection.driver_connection
        if isinstance(driver, asyncpg.Connection):
            driver.add_query_logger(lambda query: seen(query.query))
        else:
            await_only(driver.set_trace_callback(seen))

    def sent_by_sqlalchemy(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen(statement)

    await db.commit()
    engine = db.bind
    await engine.dispose()  # type: ignore[union-attr]
    sync_engine = engine.sync_engine  # type: ignore[union-attr]
    event.listen(sync_engine, "connect", observe)
    if POSTGRES_URL:
        event.listen(sync_engine, "before_cursor_execute", sent_by_sqlalchemy)
    reader = sqlite_reader(sync_engine)  # hot reads of a session that has not used a connection, on SQLite
    if reader is not None:
        reader.set_trace_callback(seen)
    try:
        yield statements
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon after the query, not during it
    finally:
        event.remove(sync_engine, "connect", observe)
        if POSTGRES_URL:
            event.remove(sync_engine, "before_cursor_execute", sent_by_sqlalchemy)
        if reader is not None:
            reader.set_trace_callback(None)


async def test_the_session_holder_and_their_roles_come_from_one_query(db: AsyncSession, client: Client) -> None:
    user = await _agency_account(db, client)
    token = client.cookies["porchlight_session"]
    db.expunge_all()  # nothing of the person known before the lookup
    async with _statements(db) as statements:
        found = await accounts.user_for_session(db, token, days=30, touch=False)
    assert found is not None
    holder, _session_id = found
    assert holder.id == user.id
    assert holder.role_names == {Role.INVESTIGATOR, Role.LIVE_DESK}
    assert len(statements) == 1, statements


async def test_a_remembered_session_costs_no_query_on_postgresql_and_one_on_sqlite(
    app: Litestar, db: AsyncSession, client: Client
) -> None:
    await sign_up(client, "remembered@example.org")
    token = client.cookies["porchlight_session"]
    async with _statements(db) as statements:
        for _ in range(3):
            db.expunge_all()
            found = await accounts.user_for_session(db, token, days=30, touch=False)
            assert found is not None and found[0].email == "remembered@example.org"
            assert found[0] in db  # attached: a change to the person is saved as before
    assert len(statements) == (1 if POSTGRES_URL else 3), statements


async def test_the_signed_in_user_is_the_session_s_own_and_changes_to_them_are_saved(
    db: AsyncSession, client: Client
) -> None:
    """The holder is put in the session as a loaded row is, not added: a load of the same rows gives the same
    instances, and a change to the person or their roles is written at commit like any other."""
    await sign_up(client, "attached@example.org")
    token = client.cookies["porchlight_session"]
    for _ in range(2):  # the second time as remembered, on PostgreSQL
        db.expunge_all()
        found = await accounts.user_for_session(db, token, days=30, touch=False)
        assert found is not None
    user = found[0]
    assert await db.get(User, user.id) is user
    (role,) = user.roles
    assert (await db.execute(select(UserRole).where(UserRole.user_id == user.id))).scalar_one() is role
    assert not db.dirty and not db.new
    user.display_name = "Attached Again"
    user.roles.append(UserRole(user_id=user.id, role=Role.INVESTIGATOR.value))
    await db.commit()
    db.expunge_all()
    saved = await db.get(User, user.id, options=[selectinload(User.roles)])
    assert saved is not None and saved.display_name == "Attached Again"
    assert saved.role_names == {Role.OWNER, Role.INVESTIGATOR}


@pytest.mark.skipif(not POSTGRES_URL, reason="app processes share what they remember only on PostgreSQL")
async def test_a_change_committed_by_another_process_reaches_what_this_one_remembers(
    app: Litestar, settings: Settings, client: Client
) -> None:
    """As `porchlight users` or another server would: a session of its own engine, without this app's cache."""
    await sign_up(client, "elsewhere@example.org")
    token = client.cookies["porchlight_session"]
    assert (await client.get("/api/v1/me")).json()["display_name"] == "Pat Owner"
    assert app.state.session_holders.get(token_hash(token)) is not None
    engine = make_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as elsewhere:
            user = await accounts.get_user_by_email(elsewhere, "elsewhere@example.org")
            assert user is not None
            user.display_name = "Renamed"
            await elsewhere.commit()
    finally:
        await engine.dispose()
    for _ in range(200):  # the LISTEN connection's turn in the event loop
        if app.state.session_holders.get(token_hash(token)) is None:
            break
        await asyncio.sleep(0.01)
    assert app.state.session_holders.get(token_hash(token)) is None
    assert (await client.get("/api/v1/me")).json()["display_name"] == "Renamed"


def _holder(user_id: uuid.UUID) -> Holder:
    now = utcnow()
    values = tuple(user_id if column == "id" else None for column in USER_COLUMNS)
    return Holder(uuid.uuid4(), now, now, now + dt.timedelta(days=1), values, ("owner",), time.monotonic())


def test_the_cache_keeps_nothing_looked_up_before_a_change_nor_while_it_is_not_listening() -> None:
    cache = SessionCache()
    someone, other = uuid.uuid4(), uuid.uuid4()
    cache.keep("a", _holder(someone), cache.generation)
    assert cache.get("a") is None  # not listening yet
    cache.listening()
    before = cache.generation
    cache.keep("a", _holder(someone), before)
    cache.keep("b", _holder(other), before)
    assert cache.get("a") is not None
    cache.received(str(someone))  # this person's sessions only
    assert cache.get("a") is None and cache.get("b") is not None
    cache.keep("a", _holder(someone), before)  # read from the database before that change
    assert cache.get("a") is None
    cache.keep("a", _holder(someone), cache.generation)
    cache.lost()
    assert cache.get("a") is None and cache.get("b") is None
    cache.keep("a", _holder(someone), cache.generation)
    assert cache.get("a") is None


@pytest.mark.slow
@pytest.mark.skipif(not POSTGRES_URL, reason="app processes share what they remember only on PostgreSQL")
@pytest.mark.parametrize("revoke", ["sign out", "change password"])
def test_an_ended_session_is_refused_at_once_by_another_server_process(
    database_url: str, tmp_path: Path, revoke: str
) -> None:
    """Two real servers on one database. The person signs in on one and uses the other (which remembers the
    session), then signs out or changes their password on the first: the other refuses the very next request."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_server(database_url, tmp_path / "a") as first, running_server(database_url, tmp_path / "b") as second:
        with httpx.Client(base_url=first) as here, httpx.Client(base_url=second) as there:
            here.get("/health")
            csrf = {"x-csrftoken": here.cookies["csrftoken"]}
            email = f"{revoke.replace(' ', '-')}@example.org"
            signup = {"email": email, "password": PASSWORD, "display_name": "Pat Owner"}
            assert here.post("/api/v1/auth/signup", json=signup, headers=csrf).status_code == 201
            csrf = {"x-csrftoken": here.cookies["csrftoken"]}  # a new one at sign-in
            there.cookies.set("porchlight_session", here.cookies["porchlight_session"])
            for _ in range(3):  # the second server remembers the session now
                assert there.get("/api/v1/me").status_code == 200
            if revoke == "sign out":
                assert here.post("/api/v1/auth/logout", headers=csrf).status_code == 204
            else:
                change = {"current_password": PASSWORD, "new_password": "another-lantern-by-the-door-43"}
                assert here.post("/api/v1/me/password", json=change, headers=csrf).status_code == 204
            assert there.get("/api/v1/me").status_code == 401


async def test_use_slides_the_expiry_at_most_every_few_minutes(db: AsyncSession, client: Client) -> None:
    await sign_up(client, "slide@example.org")
    token = client.cookies["porchlight_session"]
    start = utcnow()

    async def expiry() -> dt.datetime:
        db.expunge_all()
        return await db.scalar(select(UserSession.expires_at).where(UserSession.token_hash == token_hash(token)))

    first = await expiry()
    assert await accounts.user_for_session(db, token, days=30, now=start + dt.timedelta(minutes=2)) is not None
    assert await expiry() == first  # a read stays a read
    later = start + dt.timedelta(minutes=6)
    assert await accounts.user_for_session(db, token, days=30, now=later) is not None
    assert abs(await expiry() - (later + dt.timedelta(days=30))) < dt.timedelta(seconds=1)
    assert await accounts.user_for_session(db, token, days=30, now=later, touch=False) is not None


async def test_an_agency_session_unused_for_half_an_hour_ends(db: AsyncSession, client: Client) -> None:
    await _agency_account(db, client)
    token = client.cookies["porchlight_session"]
    idle = utcnow() + accounts.AGENCY_IDLE_LIMIT + dt.timedelta(minutes=1)
    assert await accounts.user_for_session(db, token, days=30, now=idle) is None
    db.expunge_all()
    assert await db.scalar(select(UserSession.id).where(UserSession.token_hash == token_hash(token))) is None
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_sites_are_listed_by_name_with_their_cameras_by_name_and_a_site_without_cameras_too(
    client: Client,
) -> None:
    await sign_up(client, "lister@example.org")
    shop = await add_site(client, name="Shop")
    await add_site(client, name="Garage")
    await add_camera(client, shop["id"], name="Yard")
    await add_camera(client, shop["id"], name="Alley")
    listed = (await client.get("/api/v1/sites")).json()
    assert [site["name"] for site in listed] == ["Garage", "Shop"]
    assert listed[0]["cameras"] == []
    assert [camera["name"] for camera in listed[1]["cameras"]] == ["Alley", "Yard"]
    assert listed[1] == (await client.get(f"/api/v1/sites/{shop['id']}")).json()  # the same site, read alone


async def test_the_notification_list_counts_every_unread_one_beyond_those_it_shows(
    db: AsyncSession, client: Client
) -> None:
    owner_id = uuid.UUID((await sign_up(client, "reader@example.org"))["id"])
    empty = (await client.get("/api/v1/notifications")).json()
    assert empty == {"unread": 0, "items": [], "next_cursor": None}
    count = notifications.LIST_LIMIT + 5
    messages = [notifications.Message(owner_id, f"Note {n}", "Body", "/notifications", f"n{n}") for n in range(count)]
    await notifications.notify_many(db, Kind.TEST, messages)
    await db.commit()
    listed = (await client.get("/api/v1/notifications")).json()
    assert listed["unread"] == count
    assert len(listed["items"]) == notifications.LIST_LIMIT
    await notifications.mark_read(db, owner_id)
    listed = (await client.get("/api/v1/notifications")).json()
    assert listed["unread"] == 0 and all(item["read"] for item in listed["items"])


@pytest.mark.skipif(not POSTGRES_URL, reason="a connection the server ends while idle is PostgreSQL's")
async def test_a_write_after_the_server_ended_the_idle_pooled_connections_succeeds(
    settings: Settings, client: Client
) -> None:
    """The pool replaces a connection the server closed while it sat idle (a restart, a failover), so even a write,
    which is never tried twice, finds a live one."""
    await sign_up(client, "after-restart@example.org")
    await add_site(client, name="Before")
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        ended = await admin.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert ended >= 1
        for _ in range(300):  # until the server has let them go
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ):
                break
            await asyncio.sleep(0.01)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the event loop reads each closed socket
    response = await client.send_json("POST", "/api/v1/sites", {**SITE, "name": "After"})
    assert response.status_code == 201, response.text
