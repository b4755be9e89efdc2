"""The connection pool lends its connections first come, first served (backend.db.FairQueuePool): a request that
has waited gets the next connection put back, before any newcomer; a wait that times out or is cancelled takes
nothing with it. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from backend.db import FairQueuePool, make_engine
from backend.settings import Settings


async def waiting(engine: AsyncEngine, count: int) -> None:
    """Until `count` callers wait for a connection."""
    queue = engine.sync_engine.pool._pool  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        while len(queue._waiters) < count:
            await asyncio.sleep(0.005)


async def take_all(engine: AsyncEngine) -> list[AsyncConnection]:
    connections = [await engine.connect() for _ in range(engine.sync_engine.pool.size())]  # type: ignore[attr-defined]
    for connection in connections:
        await connection.execute(text("SELECT 1"))
    return connections


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def small_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """One connection, given up on after 0.2 s."""
    engine = create_async_engine(
        settings.database_url, poolclass=FairQueuePool, pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    yield engine
    await engine.dispose()


async def test_the_app_engine_has_a_fixed_pool(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    assert isinstance(pool, FairQueuePool)
    held = await take_all(engine)
    assert pool.size() == 20 and pool.checkedout() == 20  # type: ignore[attr-defined]
    late = asyncio.create_task(engine.connect().start())
    await waiting(engine, 1)
    assert not late.done()  # no 21st connection: it waits for one of the 20
    await held.pop().close()
    await (await late).close()
    for connection in held:
        await connection.close()


async def test_a_connection_put_back_goes_to_the_one_who_waited_before_a_newcomer(engine: AsyncEngine) -> None:
    held = await take_all(engine)
    order: list[str] = []

    async def use(name: str) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            order.append(name)

    first = asyncio.create_task(use("waited"))
    await waiting(engine, 1)
    # A request that returns its connection and at once asks for another: with SQLAlchemy's own queue it took the
    # connection back before the one who waited had woken, and that one went to the end of the line.
    await held.pop().close()
    await use("newcomer")
    await first
    assert order == ["waited", "newcomer"]
    for connection in held:
        await connection.close()


async def test_waiters_are_served_in_the_order_they_came(engine: AsyncEngine) -> None:
    held = await take_all(engine)
    order: list[int] = []

    async def use(n: int) -> None:
        async with engine.connect() as connection:
            order.append(n)
            await asyncio.sleep(0)
            await connection.execute(text("SELECT 1"))

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(use(n)))
        await waiting(engine, n + 1)
    await held.pop().close()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    for connection in held:
        await connection.close()


async def test_a_wait_that_times_out_is_the_pool_timeout_and_leaves_no_place_in_line(small_engine: AsyncEngine) -> None:
    held = await small_engine.connect()
    with pytest.raises(PoolTimeout):
        await small_engine.connect()
    await held.close()
    async with small_engine.connect() as connection:  # not handed to the wait that gave up
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1


async def test_a_connection_handed_to_a_cancelled_wait_goes_back(small_engine: AsyncEngine) -> None:
    held = await small_engine.connect()
    await held.execute(text("SELECT 1"))
    waiter = asyncio.create_task(small_engine.connect().start())
    await waiting(small_engine, 1)
    await held.close()  # handed to the waiter, which is cancelled before it runs (a client that went away)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    async with small_engine.connect() as connection:  # within the 0.2 s pool timeout: it came back
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
