"""Getting a desired-state change to the app process that holds the device's long-poll.

Each process keeps the waiting long-polls in a hub. A change is announced in the transaction that makes it: on
PostgreSQL with NOTIFY (delivered at commit to the LISTEN connection of every app process, this one included);
on SQLite, where there is only one process, straight to this process's hub after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("porchlight.devices")
CHANNEL = "porchlight_desired"
RECONNECT_SECONDS = (0.5, 10.0)


class DesiredStateHub:
    """The long-polls waiting in this process, by device."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, device_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set by the next change of this device; watch before reading the state, so that a change
        between the read and the wait is not missed."""
        changed = asyncio.Event()
        self._waiting.setdefault(device_id, set()).add(changed)
        try:
            yield changed
        finally:
            waiting = self._waiting.get(device_id)
            if waiting is not None:
                waiting.discard(changed)
                if not waiting:
                    del self._waiting[device_id]

    def publish(self, device_id: uuid.UUID) -> None:
        for changed in self._waiting.get(device_id, ()):
            changed.set()

    def publish_all(self) -> None:
        """Wake every long-poll (they read the state again): after a lost LISTEN connection, nothing is missed."""
        for waiting in self._waiting.values():
            for changed in waiting:
                changed.set()

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiting.values())


HUB = DesiredStateHub()


async def announce(db: AsyncSession, device_ids: list[uuid.UUID]) -> None:
    """Tell the long-polls of these devices, once the caller's transaction commits."""
    if not device_ids:
        return
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        for device_id in device_ids:
            await db.execute(
                text("SELECT pg_notify(:channel, :device)"), {"channel": CHANNEL, "device": str(device_id)}
            )
        return

    def after_commit(_session: object) -> None:
        for device_id in device_ids:
            HUB.publish(device_id)

    event.listen(db.sync_session, "after_commit", after_commit, once=True)


def _asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _listen_forever(database_url: str, hub: DesiredStateHub, ready: asyncio.Event) -> None:
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
            await connection.add_listener(CHANNEL, lambda _c, _pid, _channel, payload: hub.publish(uuid.UUID(payload)))
        except Exception as exc:  # refused, the server starting, or cut again before the LISTEN: all the same here
            ready.set()  # start-up goes on without it; long-polls still answer at their timeout
            if not troubled:
                logger.warning("devices: cannot LISTEN for desired-state changes (%s); retrying", exc)
            troubled = True
            await _close(connection)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])
            continue
        try:
            delay = RECONNECT_SECONDS[0]
            if troubled:
                logger.info("devices: listening for desired-state changes again")
                troubled = False
            hub.publish_all()  # anything announced while not listening is read again
            ready.set()
            await lost.wait()
            logger.warning("devices: the LISTEN connection was lost; reconnecting")
            troubled = True
        finally:
            await _close(connection)


async def _close(connection: asyncpg.Connection | None) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close(timeout=2)


@contextlib.asynccontextmanager
async def listening(database_url: str, hub: DesiredStateHub = HUB) -> AsyncIterator[None]:
    """On PostgreSQL, LISTEN for changes made by any app process while the block runs (nothing on SQLite)."""
    if not database_url.startswith("postgresql"):
        yield
        return
    ready = asyncio.Event()
    task = asyncio.create_task(_listen_forever(database_url, hub, ready), name="desired-state-listener")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), timeout=5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
