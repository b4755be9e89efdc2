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
    messages in flight and the outcomes not yet written, `unrecorded` (20) at most; a crashed worker's rows are taken
    over when its lease (20 s, renewed while it works) runs out."""

    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        sender: PushSender,
        *,
        mailer: Mailer | None = None,
        batch_size: int = 500,
        concurrency: int = 12,
        unrecorded: int = 20,
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
        self._slots = asyncio.Semaphore(concurrency)  # sends under way
        self._window = asyncio.Semaphore(max(unrecorded, concurrency))  # sent or sending, outcome not yet written
        self._lease = lease
        self._idle_poll = idle_poll_seconds
        self._lanes = lanes
        self._stopping = asyncio.Event()  # run()'s stop: outcomes that cannot be written are then left to the lease

    async def _send(self, item: outbox.Claimed) -> SendResult:
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
        recorder = _Recorder(self._session_factory, batch, self._stopping)
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
        # A place in the window is held until the outcome is written, so that a crash repeats at most `unrecorded`
        # messages, and sending pauses while outcomes cannot be written (a database cut). The send's slot is given
        # back as soon as it is answered: waiting for the write there cost half the fan-out rate.
        async with self._window:
            async with self._slots:
                result = await self._send(item)
            await recorder.record(item, result)

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
        so one lane's database work (claiming, recording) overlaps another's sending. An idle lane looks again
        when deliveries are queued (outbox.DOORBELL), when told to stop, or after the poll interval (retries
        that came due, a doorbell missed while PostgreSQL's LISTEN was down)."""
        self._stopping = stop
        woken = asyncio.Event()

        async def wake_on_stop() -> None:
            await stop.wait()
            woken.set()

        waker = asyncio.create_task(wake_on_stop(), name="push-stop")
        try:
            with outbox.DOORBELL.answered_by(woken):
                await asyncio.gather(*(self._lane(stop, woken) for _ in range(self._lanes)))
        finally:
            waker.cancel()

    async def drain(self) -> None:
        """Deliver everything that is due now, then return (benchmarks, one-off runs)."""
        await asyncio.gather(*(self._lane(None, None) for _ in range(self._lanes)))

    async def _lane(self, stop: asyncio.Event | None, woken: asyncio.Event | None) -> None:
        failing = False
        while stop is None or not stop.is_set():
            if woken is not None:
                woken.clear()  # a ring from here on is for rows this claim may not see: it wakes the wait below
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
            if stop is None or woken is None:
                return
            try:  # idle: look again when woken or after the poll interval
                await asyncio.wait_for(woken.wait(), timeout=self._idle_poll)
            except TimeoutError:
                pass


class _Recorder:
    """Writes send outcomes as they come: whatever has arrived is written in one short transaction as soon as the
    previous write is done (no fixed interval to wait out). A write that fails (the connection dropped) is tried
    again with what arrived meanwhile, until the database answers; once the worker is stopping, after five tries.
    Outcomes never written are repeated after the lease, nothing is lost."""

    RETRY_SECONDS = 0.5  # between tries of a write that failed

    def __init__(
        self, session_factory: Callable[[], AsyncSession], batch: list[outbox.Claimed], stopping: asyncio.Event
    ) -> None:
        self._session_factory = session_factory
        self.unrecorded = {item.delivery_id for item in batch}
        self._arrived: list[tuple[outbox.Claimed, SendResult, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._stopping = stopping
        self._closing = False
        self._failing = False
        self._gave_up = False
        self._task = asyncio.create_task(self._run(), name="push-recorder")

    async def record(self, item: outbox.Claimed, result: SendResult) -> None:
        """Once the outcome is written, or given up on (it is then repeated after the lease)."""
        if self._gave_up:
            return
        written = asyncio.get_running_loop().create_future()
        self._arrived.append((item, result, written))
        self._wake.set()
        await written

    async def close(self) -> None:
        """Write what is left; give up after a few tries (the lease then hands the rows to a worker again)."""
        self._closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        failed_while_stopping = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            arrived, self._arrived = self._arrived, []
            if arrived:
                try:
                    await self._write([(item, result) for item, result, _ in arrived])
                except Exception as exc:
                    self._arrived[:0] = arrived
                    if not self._failing:
                        logger.warning("push: could not record %d outcomes (%s); trying again", len(arrived), exc)
                    self._failing = True
                    failed_while_stopping += self._closing or self._stopping.is_set()
                    if failed_while_stopping >= 5:
                        logger.warning("push: %d outcomes unrecorded; sent again after the lease", len(arrived))
                        self._gave_up = True
                        self._written(self._arrived)
                        return
                    await asyncio.sleep(self.RETRY_SECONDS)
                    self._wake.set()
                    continue
                self.unrecorded.difference_update(item.delivery_id for item, _, _ in arrived)
                self._failing = False
                self._written(arrived)
            if self._closing and not self._arrived:
                return

    @staticmethod
    def _written(arrived: list[tuple[outbox.Claimed, SendResult, asyncio.Future[None]]]) -> None:
        for _, _, written in arrived:
            if not written.done():
                written.set_result(None)

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
