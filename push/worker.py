"""The delivery worker: claims due outbox rows, sends them with bounded concurrency, records results.

It runs inside the app process by default, or as `porchlight worker` processes (at scale, on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from push import outbox
from push.sender import Outcome, PushSender, SendResult

logger = logging.getLogger("porchlight.push")


class DeliveryWorker:
    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        sender: PushSender,
        *,
        batch_size: int = 500,
        concurrency: int = 64,
        # Longer than a batch can take when the push service hangs: batch_size / concurrency x the send timeout.
        lease: dt.timedelta = dt.timedelta(minutes=5),
        idle_poll_seconds: float = 0.25,
        lanes: int = 2,
    ) -> None:
        self._session_factory = session_factory
        self._sender = sender
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._idle_poll = idle_poll_seconds
        self._lanes = lanes

    async def _send(self, item: outbox.Claimed) -> SendResult:
        async with self._slots:
            try:
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
            batch = await outbox.claim(db, limit=self._batch_size, lease=self._lease)
            if not batch:
                return 0
            results = list(zip(batch, await asyncio.gather(*(self._send(item) for item in batch)), strict=True))
            gone = {item.subscription_id for item, result in results if result.outcome is Outcome.GONE}
            await outbox.mark_delivered(db, [item for item, result in results if result.outcome is Outcome.DELIVERED])
            for item, result in results:
                if result.outcome is Outcome.RETRY and item.subscription_id not in gone:
                    await outbox.retry_later(db, item, result.detail, result.retry_after)
            await outbox.forget_subscriptions(db, gone)
            await db.commit()
        if gone:
            logger.info("push: %d subscriptions reported gone were deleted", len(gone))
        return len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set. Several lanes share the connection pool and the concurrency limit,
        so one lane's database work (claiming, recording) overlaps another's sending."""
        await asyncio.gather(*(self._lane(stop) for _ in range(self._lanes)))

    async def drain(self) -> None:
        """Deliver everything that is due now, then return (benchmarks, one-off runs)."""
        await asyncio.gather(*(self._lane(None) for _ in range(self._lanes)))

    async def _lane(self, stop: asyncio.Event | None) -> None:
        while stop is None or not stop.is_set():
            try:
                attempted = await self.run_once()
            except Exception:
                logger.exception("push: delivery batch failed; its rows are retried when their lease ends")
                attempted = 0
            if attempted:
                continue
            if stop is None:
                return
            try:  # idle: look again after the poll interval, or leave when told to stop
                await asyncio.wait_for(stop.wait(), timeout=self._idle_poll)
            except TimeoutError:
                pass
