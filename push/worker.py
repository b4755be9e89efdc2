"""The delivery worker: claims due outbox rows (push messages, emails), sends them with bounded concurrency, records
results.

It runs inside the app process by default, or as `porchlight worker` processes (at scale, on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from push import outbox
from push.models import Channel
from push.sender import Outcome, PushSender, SendResult

logger = logging.getLogger("porchlight.push")


class Mailer(Protocol):
    """Sends one email (an outbox row's message to its address) and says what happened."""

    async def send(self, recipient: str, message: bytes) -> SendResult: ...


class DeliveryWorker:
    """Claims due deliveries in a short transaction, sends them with bounded concurrency holding no database
    connection, and records each outcome as soon as it is known. A crash or a lost connection repeats at most the
    messages in flight and the outcomes not yet written; a crashed worker's rows are taken over when its lease
    (20 s, renewed while it works) runs out."""

    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        sender: PushSender,
        *,
        mailer: Mailer | None = None,
        batch_size: int = 500,
        concurrency: int = 12,
        lease: dt.timedelta = dt.timedelta(seconds=20),
        idle_poll_seconds: float = 0.25,
        lanes: int = 2,
    ) -> None:
        self._session_factory = session_factory
        self._sender = sender
        self._mailer = mailer
        # Without a mailer, emails are left to a worker that has one.
        self._channels = (Channel.PUSH, Channel.EMAIL) if mailer else (Channel.PUSH,)
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._idle_poll = idle_poll_seconds
        self._lanes = lanes

    async def _send(self, item: outbox.Claimed) -> SendResult:
        async with self._slots:
            try:
                if item.channel is Channel.EMAIL and self._mailer is not None:
                    return await self._mailer.send(item.recipient, item.payload)
                return await self._sender.send(
                    item.endpoint, item.p256dh, item.auth, item.payload,
                    ttl=item.ttl_seconds, urgency=item.urgency, topic=item.topic,
                )  # fmt: skip
            except Exception as exc:  # one bad row must not sink the batch; it is retried, then marked failed
                logger.exception("push: sending delivery %s failed", item.delivery_id)
                return SendResult(Outcome.RETRY, f"error: {type(exc).__name__}")

    async def run_once(self) -> int:
        """Claim one batch, send it, record every result. Returns how many deliveries were attempted."""
        async with self._session_factory() as db:
            batch = await outbox.claim(db, limit=self._batch_size, lease=self._lease, channels=self._channels)
        if not batch:
            return 0
        recorder = _Recorder(self._session_factory, batch)
        keeper = asyncio.create_task(self._keep_lease(recorder), name="push-lease")
        try:
            await asyncio.gather(*(self._send_and_record(item, recorder) for item in batch))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await recorder.close()
        return len(batch)

    async def _send_and_record(self, item: outbox.Claimed, recorder: _Recorder) -> None:
        recorder.add(item, await self._send(item))

    async def _keep_lease(self, recorder: _Recorder) -> None:
        """While sends are under way, the rows whose outcome is not written yet stay ours."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._session_factory() as db:
                    await outbox.extend_lease(db, recorder.unrecorded, self._lease)
                    await db.commit()
            except Exception as exc:
                logger.warning("push: could not renew the lease of %d deliveries: %s", len(recorder.unrecorded), exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set. Several lanes share the connection pool and the concurrency limit,
        so one lane's database work (claiming, recording) overlaps another's sending."""
        await asyncio.gather(*(self._lane(stop) for _ in range(self._lanes)))

    async def drain(self) -> None:
        """Deliver everything that is due now, then return (benchmarks, one-off runs)."""
        await asyncio.gather(*(self._lane(None) for _ in range(self._lanes)))

    async def _lane(self, stop: asyncio.Event | None) -> None:
        failing = False
        while stop is None or not stop.is_set():
            try:
                attempted = await self.run_once()
                if failing:
                    logger.info("push: the database answers again; delivering")
                failing = False
            except Exception as exc:
                if not failing:  # said once per outage, not at every poll
                    logger.warning("push: cannot claim deliveries (%s); trying again", exc)
                failing, attempted = True, 0
            if attempted:
                continue
            if stop is None:
                return
            try:  # idle: look again after the poll interval, or leave when told to stop
                await asyncio.wait_for(stop.wait(), timeout=self._idle_poll)
            except TimeoutError:
                pass


class _Recorder:
    """Writes send outcomes as they come: whatever has arrived is written in one short transaction as soon as the
    previous write is done (no fixed interval to wait out). A write that fails (the connection dropped) is tried
    again with what arrived meanwhile; outcomes never written are repeated after the lease, nothing is lost."""

    RETRY_SECONDS = 0.5  # between tries of a write that failed; five failures after the sends ended give up

    def __init__(self, session_factory: Callable[[], AsyncSession], batch: list[outbox.Claimed]) -> None:
        self._session_factory = session_factory
        self.unrecorded = {item.delivery_id for item in batch}
        self._arrived: list[tuple[outbox.Claimed, SendResult]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._failing = False
        self._task = asyncio.create_task(self._run(), name="push-recorder")

    def add(self, item: outbox.Claimed, result: SendResult) -> None:
        self._arrived.append((item, result))
        self._wake.set()

    async def close(self) -> None:
        """Write what is left; give up after a few tries (the lease then hands the rows to a worker again)."""
        self._closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        failed_while_closing = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            results, self._arrived = self._arrived, []
            if results:
                try:
                    await self._write(results)
                    self.unrecorded.difference_update(item.delivery_id for item, _ in results)
                    self._failing = False
                except Exception as exc:
                    self._arrived[:0] = results
                    if not self._failing:
                        logger.warning("push: could not record %d outcomes (%s); trying again", len(results), exc)
                    self._failing = True
                    failed_while_closing += self._closing
                    if failed_while_closing >= 5:
                        logger.warning("push: %d outcomes unrecorded; sent again after the lease", len(results))
                        return
                    await asyncio.sleep(self.RETRY_SECONDS)
                    self._wake.set()
                    continue
            if self._closing and not self._arrived:
                return

    async def _write(self, results: list[tuple[outbox.Claimed, SendResult]]) -> None:
        gone = {item.subscription_id for item, result in results if result.outcome is Outcome.GONE}
        async with self._session_factory() as db:
            # Each statement commits on its own: no BEGIN and COMMIT round trips, which on a busy event loop wait
            # behind every send under way (each statement is complete in itself; a lost one is sent again).
            await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await outbox.mark_delivered(db, [item for item, result in results if result.outcome is Outcome.DELIVERED])
            for item, result in results:
                if result.outcome is Outcome.RETRY and item.subscription_id not in gone:
                    await outbox.retry_later(db, item, result.detail, result.retry_after)
                elif result.outcome is Outcome.REFUSED:
                    await outbox.give_up(db, item, result.detail)
            await outbox.forget_subscriptions(db, gone)
            await db.commit()
        if gone:
            logger.info("push: %d subscriptions reported gone were deleted", len(gone))
