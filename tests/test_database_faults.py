"""A database connection that dies (PostgreSQL's pg_terminate_backend, a restart, a failover) is a clean answer:
503 problem details (or the error page) with Retry-After, never a 500, and never an exception after the answer
started; a read whose connection died is tried once more on a fresh one; the sweeper and the desired-state LISTEN
reconnect on their own and say so once. The cuts need PostgreSQL: SQLite has no server connection to cut."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from litestar import Litestar, get, post
from litestar.params import FromQuery
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from backend import listening, sweeper
from backend.db import make_engine
from backend.devices import desired
from backend.requests.evidence import ClipStore
from backend.settings import Settings
from backend.web import Db
from tests.conftest import Client
from tests.databases import POSTGRES_URL
from tests.helpers import sign_up

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="cutting a database connection needs PostgreSQL (pg_terminate_backend); SQLite has no server connection",
)

READERS = 8
CUTS = 5
READS_BETWEEN_CUTS = 40


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], seconds: float = 30.0) -> None:
    """A bound on how long a step may take before the test gives up (not a performance figure)."""
    for _ in range(int(seconds / 0.01)):
        outcome = condition()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not done within {seconds} s")


@pytest.fixture
async def admin(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own, outside the app's pool, that cuts the app's connections."""
    connection = await asyncpg.connect(_dsn(settings.database_url))
    yield connection
    await connection.close()


async def cut_every_connection(admin: asyncpg.Connection) -> int:
    """Terminate every other backend of the test database; how many there were."""
    return await admin.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


async def cut_own_connection(db: AsyncSession, database_url: str) -> None:
    """Terminate the backend behind this session's connection and wait until the driver has seen it go."""
    pid = await db.scalar(text("SELECT pg_backend_pid()"))
    driver = (await (await db.connection()).get_raw_connection()).driver_connection
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await wait_until(driver.is_closed)


def assert_clean_503(response: Any, page: bool = False) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    if page:
        assert response.headers["content-type"].startswith("text/html")
        assert "Try again" in response.text
    else:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 503
        assert problem["title"]


async def test_reads_through_repeated_cuts_are_200_or_a_clean_503_and_200_after(
    app: Litestar, admin: asyncpg.Connection, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """8 signed-in owners read their requests (API and page) while every app connection is cut 5 times: no answer
    is a 500 or an exception after the answer started, every 503 says when to retry, and the next reads are 200."""
    clients = [Client(app) for _ in range(READERS)]
    for number, client in enumerate(clients):
        await sign_up(client, f"reader{number}@example.org")
    answers: list[tuple[str, int]] = []
    stop = asyncio.Event()

    async def read(client: Client) -> None:
        for number in itertools.count():
            if stop.is_set():
                return
            page = number % 2 == 1
            response = await client.get("/requests" if page else "/api/v1/requests")
            if response.status_code == 503:
                assert_clean_503(response, page=page)
            else:
                assert response.status_code == 200, response.text
            answers.append(("page" if page else "api", response.status_code))

    caplog.set_level(logging.INFO, logger="porchlight.web")
    readers = [asyncio.create_task(read(client)) for client in clients]

    def answered(count: int) -> Callable[[], bool]:
        return lambda: len(answers) >= count or any(reader.done() for reader in readers)

    cut = []
    try:
        for number in range(1, CUTS + 1):  # a cut after every 40 answers, then 40 more
            await wait_until(answered(number * READS_BETWEEN_CUTS))
            cut.append(await cut_every_connection(admin))
        await wait_until(answered((CUTS + 1) * READS_BETWEEN_CUTS))
    finally:
        stop.set()
        await asyncio.gather(*readers)  # a reader's failed assertion (or a 500 raised in the app) fails the test

    after = [await client.get(path) for client in clients for path in ("/api/v1/requests", "/requests")]
    for client in clients:
        await client.aclose()
    seen = Counter(answers)
    messages = [r.getMessage() for r in caplog.records if r.name == "porchlight.web"]
    lost = sum(1 for m in messages if m.startswith("database connection lost during"))
    read_again = sum(1 for m in messages if m.endswith("read again on a fresh database connection"))
    with capsys.disabled():
        print(f"\n{CUTS} cuts of {cut} connections; answers {dict(seen)}; {lost} lost, {read_again} read again")
    # The cuts hit requests in flight; each such request was read again once or answered 503.
    assert lost > 0
    assert lost == read_again + seen[("api", 503)] + seen[("page", 503)]
    assert all(killed > 0 for killed in cut)
    assert set(seen) <= {("api", 200), ("api", 503), ("page", 200), ("page", 503)}
    assert [response.status_code for response in after] == [200] * len(after)


@pytest.fixture
def faulty_routes(app: Litestar, settings: Settings) -> Counter[str]:
    """Routes of this test only: each cuts its own database connection after its work or in the middle of it
    (`cuts`: on how many of its calls), and counts its calls."""
    calls: Counter[str] = Counter()

    async def work_with_cut(db: AsyncSession, name: str, cuts: int) -> dict[str, int]:
        calls[name] += 1
        await db.execute(text("SELECT 1"))
        if calls[name] <= cuts:
            await cut_own_connection(db, settings.database_url)
        await db.execute(text("SELECT 1"))  # the work goes on: on a cut connection this fails
        return {"calls": calls[name]}

    @get("/api/v1/test-faults/cut-after-work")
    async def cut_after_work(db: Db) -> dict[str, int]:
        calls["after-work"] += 1
        await db.execute(text("SELECT 1"))
        await cut_own_connection(db, settings.database_url)
        return {"calls": calls["after-work"]}

    @get("/api/v1/test-faults/cut-during-work")
    async def read_cut(db: Db, cuts: FromQuery[int]) -> dict[str, int]:
        return await work_with_cut(db, "api-read", cuts)

    @post("/api/v1/test-faults/cut-during-work", status_code=200)
    async def write_cut(db: Db, cuts: FromQuery[int]) -> dict[str, int]:
        return await work_with_cut(db, "api-write", cuts)

    @get("/test-faults/cut-during-work")
    async def page_cut(db: Db, cuts: FromQuery[int]) -> dict[str, int]:
        return await work_with_cut(db, "page", cuts)

    for handler in (cut_after_work, read_cut, write_cut, page_cut):
        app.register(handler)
    return calls


async def test_a_cut_after_the_work_leaves_the_answer_standing_with_one_warning(
    client: Client, faulty_routes: Counter[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The connection dies after the handler's work, before the session is closed: the answer stands (before,
    closing the session raised after the answer had started: uvicorn's plain-text 500), one warning is logged."""
    with caplog.at_level(logging.WARNING):
        response = await client.get("/api/v1/test-faults/cut-after-work")
    assert response.status_code == 200, response.text
    assert response.json() == {"calls": 1}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in warnings] == [logging.WARNING], [r.getMessage() for r in warnings]
    assert "discarded" in warnings[0].getMessage()
    assert (await client.get("/api/v1/test-faults/cut-after-work")).status_code == 200


async def test_a_read_whose_connection_dies_is_read_again_once_on_a_fresh_connection(
    client: Client, faulty_routes: Counter[str]
) -> None:
    response = await client.get("/api/v1/test-faults/cut-during-work", params={"cuts": 1})
    assert response.status_code == 200, response.text
    assert faulty_routes["api-read"] == 2


async def test_a_read_cut_twice_is_a_503_problem_with_retry_after(client: Client, faulty_routes: Counter[str]) -> None:
    response = await client.get("/api/v1/test-faults/cut-during-work", params={"cuts": 2})
    assert_clean_503(response)
    assert faulty_routes["api-read"] == 2  # tried once more, not again and again


async def test_a_write_whose_connection_dies_is_a_503_and_not_repeated(
    client: Client, faulty_routes: Counter[str]
) -> None:
    response = await client.send_json("POST", "/api/v1/test-faults/cut-during-work?cuts=1")
    assert_clean_503(response)
    assert faulty_routes["api-write"] == 1


async def test_a_page_whose_connection_dies_is_the_error_page_with_503(
    client: Client, faulty_routes: Counter[str]
) -> None:
    await sign_up(client, "page-reader@example.org")
    response = await client.get("/test-faults/cut-during-work", params={"cuts": 2})
    assert_clean_503(response, page=True)
    assert faulty_routes["page"] == 2


async def test_the_sweeper_survives_cuts_says_so_once_and_goes_on(
    settings: Settings, db: AsyncSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Three sweeps in a row lose their connection in the middle: the sweeper logs one warning (not a traceback a
    pass), says once when the database is back, and its next passes do their work."""
    calls = Counter[str]()
    sweep_devices = sweeper.devices.sweep

    async def sweep_with_cuts(session: AsyncSession) -> tuple[int, int, int]:
        calls["passes"] += 1
        if calls["passes"] <= 3:
            await cut_own_connection(session, settings.database_url)
        outcome = await sweep_devices(session)
        calls["done"] += 1
        return outcome

    monkeypatch.setattr(sweeper.devices, "sweep", sweep_with_cuts)
    engine = make_engine(settings)
    store = ClipStore(settings.evidence_path)
    try:
        with caplog.at_level(logging.INFO, logger="porchlight.sweeper"):
            async with sweeper.running_sweeper(engine, store, every=3600, devices_every=0.01):
                await wait_until(lambda: calls["done"] >= 3)
    finally:
        await engine.dispose()
    records = [r for r in caplog.records if r.name == "porchlight.sweeper"]
    assert calls["passes"] >= 6
    assert [r.levelno for r in records if r.levelno >= logging.WARNING] == [logging.WARNING]
    assert not any(r.exc_info for r in records)
    assert len([r for r in records if "back" in r.getMessage()]) == 1


async def test_the_live_relays_watch_survives_cuts_says_so_once_and_goes_on(
    settings: Settings, db: AsyncSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay records viewers who left; three of its passes lose their connection: one warning, no traceback,
    one line when the database is back, and the viewers after are recorded."""
    import uuid

    from backend.sharing import relay as live_relay
    from backend.sharing import service as sharing

    calls = Counter[str]()
    viewer_closed = sharing.viewer_closed

    async def viewer_closed_with_cuts(session: AsyncSession, viewer_id: uuid.UUID) -> None:
        calls["passes"] += 1
        if calls["passes"] <= 3:
            await cut_own_connection(session, settings.database_url)
        await viewer_closed(session, viewer_id)
        calls["done"] += 1

    monkeypatch.setattr(sharing, "viewer_closed", viewer_closed_with_cuts)
    monkeypatch.setattr(live_relay, "CHECK_EVERY_SECONDS", 0.01)
    relay = live_relay.Relay()
    for _ in range(6):
        relay.closed_viewers.put_nowait(uuid.uuid4())
    engine = make_engine(settings)
    try:
        with caplog.at_level(logging.INFO, logger="porchlight.sweeper"):
            async with live_relay.running_relay(engine, relay):
                await wait_until(lambda: calls["done"] >= 3)
    finally:
        await engine.dispose()
    records = [r for r in caplog.records if r.name == "porchlight.sweeper"]
    assert [r.levelno for r in records if r.levelno >= logging.WARNING] == [logging.WARNING]
    assert "relay: lost the database connection" in records[0].getMessage()
    assert not any(r.exc_info for r in records)
    assert len([r for r in records if "back" in r.getMessage()]) == 1


async def test_the_listen_connection_comes_back_after_cuts_and_says_so_once_each_time(
    settings: Settings, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The desired-state LISTEN connection is cut right after it connects (before its LISTEN), then while it
    listens: each time it is back on its own (a change announced after reaches the hub), with one warning and one
    line when it listens again (before, a cut before the LISTEN ended its task for good)."""
    connect = asyncpg.connect
    cuts_on_connect = Counter[str]({"left": 1})

    async def connect_then_cut(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        connection = await connect(*args, **kwargs)
        if cuts_on_connect["left"]:
            cuts_on_connect["left"] -= 1
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", connection.get_server_pid())
            await wait_until(connection.is_closed)
        return connection

    async def announced_reaches_the_hub(hub: desired.DesiredStateHub) -> None:
        device_id = uuid.uuid4()
        with hub.watch(device_id) as changed:
            await admin.execute("SELECT pg_notify($1, $2)", desired.CHANNEL, str(device_id))
            await wait_until(changed.is_set)

    monkeypatch.setattr(listening.asyncpg, "connect", connect_then_cut)
    hub = desired.DesiredStateHub()
    with caplog.at_level(logging.INFO, logger="porchlight.listening"):
        async with listening.listening(settings.database_url, [hub]):
            await announced_reaches_the_hub(hub)
            with hub.watch(uuid.uuid4()) as woken:  # every long-poll reads again after a reconnection
                assert await cut_every_connection(admin) >= 1
                await wait_until(woken.is_set)
            await announced_reaches_the_hub(hub)
    records = [r for r in caplog.records if r.name == "porchlight.listening"]
    assert [(r.levelname, r.getMessage().split(" (")[0].split(";")[0]) for r in records] == [
        ("WARNING", "cannot LISTEN for changes made by other processes"),
        ("INFO", "listening for changes made by other processes again"),
        ("WARNING", "the LISTEN connection was lost"),
        ("INFO", "listening for changes made by other processes again"),
    ]
