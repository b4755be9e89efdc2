"""Getting a desired-state change to the app process that holds the device's long-poll.

Each process keeps the waiting long-polls in a hub. A change is announced in the transaction that makes it: on
PostgreSQL with NOTIFY (delivered at commit to the LISTEN connection of every app process, this one included);
on SQLite, where there is only one process, straight to this process's hub after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy.ext.asyncio import AsyncSession

from backend import listening

CHANNEL = "porchlight_desired"


class DesiredStateHub:
    """The long-polls waiting in this process, by device; on PostgreSQL it follows the channel (backend.listening)."""

    channel = CHANNEL

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

    def received(self, payload: str) -> None:
        self.publish(uuid.UUID(payload))

    def listening(self) -> None:
        self.publish_all()  # anything announced while not listening is read again

    def lost(self) -> None:
        """Long-polls still answer at their timeout."""

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiting.values())


HUB = DesiredStateHub()


async def announce(db: AsyncSession, device_ids: list[uuid.UUID]) -> None:
    """Tell the long-polls of these devices, once the caller's transaction commits."""

    def here() -> None:
        for device_id in device_ids:
            HUB.publish(device_id)

    if device_ids:
        await listening.announce(db, CHANNEL, [str(d) for d in device_ids], here)
