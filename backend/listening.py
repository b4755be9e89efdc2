"""One LISTEN connection per app process on PostgreSQL, for every channel the process follows.

A change is announced with NOTIFY in the transaction that makes it, so PostgreSQL delivers it at commit to every app
process (this one included), and never for work that was rolled back. Each channel is followed by an object that
takes the payloads, and that hears when listening starts (again) and when the connection is lost, because anything
announced in between was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("porchlight.listening")
RECONNECT_SECONDS = (0.5, 10.0)


class Follower(Protocol):
    """What follows one channel."""

    channel: str

    def received(self, payload: str) -> None: ...

    def listening(self) -> None:
        """Listening now (at start or again): what was announced while not listening is unknown."""

    def lost(self) -> None:
        """Not listening any more until `listening` is called again."""


async def announce(db: AsyncSession, channel: str, payloads: Sequence[str], here: Callable[[], None]) -> None:
    """Announce in the caller's transaction, heard only if it commits: on PostgreSQL a NOTIFY of each payload on
    `channel`, which every process's LISTEN hears at commit (this one included); on SQLite, where there is one
    process, `here` is called after the commit."""
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        for payload in payloads:
            await db.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})
        return
    event.listen(db.sync_session, "after_commit", lambda _session: here(), once=True)


def _asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _listen_forever(database_url: str, followers: Sequence[Follower], ready: asyncio.Event) -> None:
    """LISTEN until cancelled, reconnecting with backoff. A lost connection or failed start is said once (a warning),
    and once more when listening again; the attempts in between are quiet."""
    delay = RECONNECT_SECONDS[0]
    troubled = False
    while True:
        lost = asyncio.Event()
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(_asyncpg_dsn(database_url))
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            for follower in followers:
                await connection.add_listener(
                    follower.channel, lambda _c, _pid, _channel, payload, f=follower: f.received(payload)
                )
        except Exception as exc:  # refused, the server starting, or cut again before the LISTEN: all the same here
            ready.set()  # start-up goes on without it; the followers are told once listening
            if not troubled:
                logger.warning("cannot LISTEN for changes made by other processes (%s); retrying", exc)
            troubled = True
            await _close(connection)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])
            continue
        try:
            delay = RECONNECT_SECONDS[0]
            if troubled:
                logger.info("listening for changes made by other processes again")
                troubled = False
            for follower in followers:
                follower.listening()
            ready.set()
            await lost.wait()
            logger.warning("the LISTEN connection was lost; reconnecting")
            troubled = True
        finally:
            for follower in followers:
                follower.lost()
            await _close(connection)


async def _close(connection: asyncpg.Connection | None) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close(timeout=2)


@contextlib.asynccontextmanager
async def listening(database_url: str, followers: Sequence[Follower]) -> AsyncIterator[None]:
    """On PostgreSQL, LISTEN for changes made by any app process while the block runs (nothing on SQLite)."""
    if not database_url.startswith("postgresql"):
        yield
        return
    ready = asyncio.Event()
    task = asyncio.create_task(_listen_forever(database_url, followers, ready), name="listener")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), timeout=5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
