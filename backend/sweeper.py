"""The background sweepers, in the app process by default or in `porchlight worker` processes: footage requests
(expire at the deadline, remind a day before, remove unfinished uploads nobody will continue) and edge devices
(offline detection and the alerts a debounce window held back) and shares (end on time, tell the owner when
nobody at the live desk answered); and, every 10 s, access receipts (owners told of police accesses)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.db import connection_error_summary, connection_lost
from backend.devices import service as devices
from backend.requests import evidence, receipts
from backend.requests import service as requests
from backend.sharing import service as sharing

logger = logging.getLogger("porchlight.sweeper")
REQUESTS_EVERY_SECONDS = 60.0
# A device is offline 90 s after its last heartbeat, a camera 2 minutes after its last frame: look often.
DEVICES_EVERY_SECONDS = 10.0


async def run_every(
    engine: AsyncEngine, seconds: float, stop: asyncio.Event, name: str, work: Callable[[AsyncSession], Awaitable[str]]
) -> None:
    """Run `work` in a fresh session every `seconds` until stopped (the sweeps, the live relay's watch over its
    shares); a failed pass is logged and tried again. A lost
    database connection is said once, and once more when the database answers again, not a traceback a pass: the
    next pass's session takes a fresh connection from the pool (which pre-pings) on its own."""
    lost = False
    while not stop.is_set():
        try:
            async with AsyncSession(engine, expire_on_commit=False) as db:
                if done := await work(db):
                    logger.info("%s: %s", name, done)
            if lost:
                logger.info("%s: the database is back; sweeping again", name)
                lost = False
        except Exception as exc:
            if not connection_lost(exc):
                logger.exception("%s: sweep failed; trying again at the next one", name)
            elif not lost:
                lost = True
                cause = connection_error_summary(exc)
                logger.warning("%s: lost the database connection (%s); trying again every %g s", name, cause, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


@asynccontextmanager
async def running_sweeper(
    engine: AsyncEngine,
    store: evidence.ClipStore,
    every: float = REQUESTS_EVERY_SECONDS,
    devices_every: float = DEVICES_EVERY_SECONDS,
) -> AsyncIterator[None]:
    async def sweep_requests(db: AsyncSession) -> str:
        expired, reminded = await requests.sweep(db)
        discarded = await evidence.discard_abandoned_uploads(db, store)
        if expired or reminded or discarded:
            return f"{expired} expired, {reminded} reminders sent, {discarded} abandoned uploads removed"
        return ""

    async def sweep_devices(db: AsyncSession) -> str:
        offline, cameras, summaries = await devices.sweep(db)
        await devices.discard_expired_pairings(db)
        ended, unanswered = await sharing.sweep(db)
        receipts_sent = await receipts.send_receipts(db)
        done = []
        if offline or cameras or summaries:
            done.append(f"{offline} devices offline, {cameras} cameras without video, {summaries} alert summaries")
        if ended or unanswered:
            done.append(f"{ended} shares ended, {unanswered} owners told nobody answered")
        if receipts_sent:
            done.append(f"{receipts_sent} owners told of police accesses")
        return "; ".join(done)

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_every(engine, every, stop, "requests", sweep_requests), name="request-sweeper"),
        asyncio.create_task(run_every(engine, devices_every, stop, "devices", sweep_devices), name="device-sweeper"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)
