"""The in-process sweeper: expires requests at their deadline, reminds owners a day before, and removes
unfinished uploads nobody will continue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.requests import evidence, service

logger = logging.getLogger("porchlight.requests")
SWEEP_EVERY_SECONDS = 60.0


async def _sweep_forever(engine: AsyncEngine, store: evidence.ClipStore, stop: asyncio.Event, every: float) -> None:
    while not stop.is_set():
        try:
            async with AsyncSession(engine, expire_on_commit=False) as db:
                expired, reminded = await service.sweep(db)
                discarded = await evidence.discard_abandoned_uploads(db, store)
            if expired or reminded or discarded:
                logger.info(
                    "requests: %d expired, %d reminders sent, %d abandoned uploads removed",
                    expired,
                    reminded,
                    discarded,
                )
        except Exception:
            logger.exception("requests: sweep failed; trying again at the next one")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


@asynccontextmanager
async def running_sweeper(
    engine: AsyncEngine, store: evidence.ClipStore, every: float = SWEEP_EVERY_SECONDS
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_sweep_forever(engine, store, stop, every), name="request-sweeper")
    try:
        yield
    finally:
        stop.set()
        await task
