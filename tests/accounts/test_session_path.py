"""The signed-in request path: a session's holder and roles come from one query, nothing about a session is kept
between requests (an ended session is refused on the very next one, by any app process), and the lists a
signed-in owner reads most say what they said before they were read without ORM objects."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from litestar import Litestar
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, User, UserSession
from backend.app import create_app
from backend.db import utcnow
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.settings import Settings
from backend.tokens import token_hash
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.helpers import PASSWORD, SITE, add_camera, add_site, sign_up


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


async def test_the_session_holder_and_their_roles_come_from_one_query(db: AsyncSession, client: Client) -> None:
    user = await _agency_account(db, client)
    token = client.cookies["porchlight_session"]
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sync_engine = db.bind.sync_engine  # type: ignore[union-attr]
    event.listen(sync_engine, "before_cursor_execute", count)
    db.expunge_all()  # nothing of the person known before the lookup
    try:
        found = await accounts.user_for_session(db, token, days=30, touch=False)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert found is not None
    holder, _session_id = found
    assert holder.id == user.id
    assert holder.role_names == {Role.INVESTIGATOR, Role.LIVE_DESK}
    assert len(statements) == 1, statements


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
