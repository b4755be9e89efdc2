"""Web Push fan-out: 10,000 notifications to 10,000 subscriptions through the delivery worker's own code path,
to the fake push service over HTTPS on loopback (a separate process), beside a naive baseline measured in the
same run; then commit-to-receipt latency with the worker idle, and the worker's peak memory growth.

How it grows: the same at 1,000 and (not with BENCH_QUICK=1) 100,000 subscriptions. At 100,000 all of them are
queued and the first TIMED_AT_MOST deliveries are timed: the worker stops after the batches under way, and the rest
are taken out of the outbox. That is the rate with the whole fan-out waiting, without minutes of sending the rest.

Targets (issue 16): fan-out at least 2,000/s (10,000 in 5 s) and at least 5x the naive baseline; latency p95 under
250 ms; memory flat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import pywebpush
import requests
import uvloop
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import make_engine, migrate
from backend.notifications import service
from backend.notifications.delivery import ssl_context, vapid_keys
from backend.notifications.models import Kind
from backend.settings import PROJECT_ROOT, Settings
from bench.report import QUICK, Target, record
from push import outbox
from push.models import Delivery, DeliveryStatus, PushSubscription
from push.payload import declarative_payload, topic_for
from push.sender import PushSender
from push.vapid import VapidSigner
from push.worker import DeliveryWorker

FANOUT = 10_000  # the headline figure's size; the others show how the rate grows with the fan-out
FANOUT_STEPS = (1_000, 10_000) if QUICK else (1_000, 10_000, 100_000)
TIMED_AT_MOST = 20_000  # deliveries timed of a larger fan-out
BASELINE_MESSAGES = 300
LATENCY_SAMPLES = 15 if QUICK else 30
TARGET_SECONDS, TARGET_RATE, TARGET_SPEEDUP, TARGET_P95_MS = 5.0, 2_000, 5.0, 250


def start_fake_service(directory: Path) -> tuple[subprocess.Popen[str], str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "push.fake_service", "--port", "0", "--cert-dir", str(directory), "--quiet"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    origin = process.stdout.readline().split(" at ", 1)[1].strip()
    ca_file = process.stdout.readline().split(": ", 1)[1].split("  ", 1)[0].strip()
    return process, origin, ca_file


async def new_subscriptions(origin: str, ca_file: str, count: int) -> list[dict]:
    import ssl

    connector = aiohttp.TCPConnector(limit=4, ssl=ssl.create_default_context(cafile=ca_file))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def some(n: int) -> list[dict]:
            async with session.post(f"{origin}/subscriptions", params={"count": n}) as response:
                return await response.json()

        lists = await asyncio.gather(*(some(min(1000, count - start)) for start in range(0, count, 1000)))
        return [subscription for some_of_them in lists for subscription in some_of_them]


async def stats(origin: str, ca_file: str) -> dict:
    return await asyncio.to_thread(lambda: requests_session(ca_file).get(f"{origin}/stats", timeout=10).json())


def requests_session(ca_file: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify
    session.verify = ca_file
    return session


async def fanout(settings: Settings, origin: str, ca_file: str, count: int) -> dict[str, float]:
    """Queue one notification to each of `count` new subscriptions and deliver them (the first TIMED_AT_MOST)."""
    engine = make_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db:
        await enqueue_one_each(db, await new_subscriptions(origin, ca_file, count))
    delivered_before = (await stats(origin, ca_file))["delivered"]

    signer = VapidSigner(vapid_keys(settings), settings.vapid_subject)
    rss_before = current_rss_mb()
    peak = [rss_before]

    async def sample_memory() -> None:
        while True:
            peak[0] = max(peak[0], current_rss_mb())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample_memory())
    async with PushSender(signer, ssl_context=ssl_context(settings)) as sender:
        worker = DeliveryWorker(sessions, sender)  # the defaults the app and `porchlight worker` use
        started = time.perf_counter()
        if count <= TIMED_AT_MOST:
            await worker.drain()  # the lanes `worker.run()` uses, returning once nothing is due
        else:
            stop = asyncio.Event()
            watcher = asyncio.create_task(stop_after(origin, ca_file, delivered_before + TIMED_AT_MOST, stop))
            await worker.run(stop)  # returns once the batches under way are sent and recorded
            watcher.cancel()
        elapsed = time.perf_counter() - started
        async with sessions() as db:  # the rest would hold up the next measurement
            await db.execute(delete(Delivery).where(Delivery.status != DeliveryStatus.DELIVERED))
            await db.commit()
    sampler.cancel()
    rss_growth_mb = peak[0] - rss_before
    delivered = (await stats(origin, ca_file))["delivered"] - delivered_before
    await engine.dispose()
    return {"seconds": elapsed, "delivered": delivered, "rss_growth_mb": rss_growth_mb}


async def stop_after(origin: str, ca_file: str, delivered: int, stop: asyncio.Event) -> None:
    """Set `stop` once the push service has received `delivered` messages in all."""
    while (await stats(origin, ca_file))["delivered"] < delivered:
        await asyncio.sleep(0.1)
    stop.set()


async def enqueue_one_each(db: AsyncSession, browsers: list[dict]) -> None:
    """Save the browsers' subscriptions (one owner) and queue one notification to each."""
    user_id = await _user(db)
    rows = [
        {"id": uuid.uuid4(), "user_id": user_id, "endpoint": b["endpoint"], "p256dh": b["keys"]["p256dh"],
         "auth": b["keys"]["auth"], "name": "bench", "muted_kinds": []}
        for b in browsers
    ]  # fmt: skip
    await db.execute(insert(PushSubscription), rows)
    payload = declarative_payload(title="Police request footage", body="Near your camera", navigate="/n", tag="t")
    messages = [outbox.Outgoing(r["id"], payload, topic_for("t")) for r in rows]
    await outbox.enqueue(db, messages, ttl_seconds=3600, urgency="high")
    await db.commit()


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


async def _user(db: AsyncSession) -> uuid.UUID:
    from backend.accounts import service as accounts
    from backend.accounts.models import Role

    user = await accounts.create_user(
        db, email=f"bench{uuid.uuid4().hex[:6]}@example.org", password=None, display_name="Bench", roles=[Role.OWNER]
    )
    return user.id


def naive_baseline(settings: Settings, origin: str, ca_file: str, browsers: list[dict]) -> float:
    """One pywebpush.webpush() call per message, sequential, as a first implementation would do it."""
    pem_file = settings.var_dir / "vapid_private_key.pem"  # webpush() reads the key file itself
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file  # webpush() uses plain requests.post, which reads this
    try:
        started = time.perf_counter()
        for browser in browsers:
            pywebpush.webpush(
                browser, '{"web_push":8030,"notification":{"title":"t","navigate":"/"}}',
                vapid_private_key=str(pem_file), vapid_claims={"sub": settings.vapid_subject}, ttl=3600,
            )  # fmt: skip
        return len(browsers) / (time.perf_counter() - started)
    finally:
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous


async def latency(settings: Settings, origin: str, ca_file: str) -> list[float]:
    """Commit a notification with the worker idle and time until the push service has it."""
    import msgspec

    from backend.notifications.delivery import running_worker
    from backend.notifications.schemas import SubscriptionIn

    engine = make_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    [browser] = await new_subscriptions(origin, ca_file, 1)
    http = requests_session(ca_file)
    subscription_id = browser["endpoint"].rsplit("/", 1)[1]
    samples: list[float] = []
    async with sessions() as db:
        user_id = await _user(db)
        await service.save_subscription(
            db, user_id, None, msgspec.convert(browser, SubscriptionIn), user_agent="", allowed_hosts=("127.0.0.1",)
        )
        async with running_worker(settings, engine):
            for n in range(LATENCY_SAMPLES):
                await asyncio.sleep(0.3 + random.random() * 0.3)  # the worker is idle when the event arrives
                await service.notify(db, Kind.SHARE_NOW, service.Message(user_id, "Share", "on", "/", f"l{n}"))
                await db.commit()
                committed = dt.datetime.now(dt.UTC)
                while True:
                    received = await asyncio.to_thread(
                        lambda: http.get(f"{origin}/subscriptions/{subscription_id}/messages", timeout=5).json()
                    )
                    if len(received) > n:
                        break
                    await asyncio.sleep(0.005)
                arrival = dt.datetime.fromisoformat(received[n]["received_at"])
                samples.append((arrival - committed).total_seconds() * 1000)
    await engine.dispose()
    return samples


def main() -> None:
    uvloop.install()  # as in `porchlight worker` and the uvicorn-served app
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = f"sqlite+aiosqlite:///{directory / 'push-bench.db'}"
        migrate(url)
        fake, origin, ca_file = start_fake_service(directory)
        try:
            settings = Settings(
                database_url=url, secret_key="bench", var_dir=directory, show_demo_logins=False,
                push_extra_hosts=("127.0.0.1",), push_ca_file=ca_file, background_in_process=False,
            )  # fmt: skip
            results = {count: asyncio.run(fanout(settings, origin, ca_file, count)) for count in FANOUT_STEPS}
            result = results[FANOUT]
            baseline_browsers = asyncio.run(new_subscriptions(origin, ca_file, BASELINE_MESSAGES))
            baseline_rate = naive_baseline(settings, origin, ca_file, baseline_browsers)
            samples = asyncio.run(latency(settings, origin, ca_file))
        finally:
            fake.terminate()
            fake.wait()
    rate = FANOUT / result["seconds"]
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    speedup = rate / baseline_rate
    print(f"\nWeb Push fan-out: {FANOUT:,} notifications to {FANOUT:,} subscriptions, fake push service, HTTPS")
    print(f"  delivered {int(result['delivered']):,} in {result['seconds']:.2f} s = {rate:,.0f}/s   target <= "
          f"{TARGET_SECONDS:.0f} s, >= {TARGET_RATE:,}/s  {verdict(rate >= TARGET_RATE)}")  # fmt: skip
    print(f"  naive baseline (sequential pywebpush.webpush(), {BASELINE_MESSAGES} messages): {baseline_rate:,.0f}/s"
          f" -> {FANOUT / baseline_rate:.1f} s for {FANOUT:,}")  # fmt: skip
    print(f"  speed-up over the baseline: {speedup:.1f}x   target >= {TARGET_SPEEDUP:.0f}x  "
          f"{verdict(speedup >= TARGET_SPEEDUP)}")  # fmt: skip
    print(f"  commit -> push service received, worker idle ({LATENCY_SAMPLES} samples): p50 {p50:.0f} ms, "
          f"p95 {p95:.0f} ms   target p95 < {TARGET_P95_MS} ms  {verdict(p95 < TARGET_P95_MS)}")  # fmt: skip
    print(f"  worker peak memory growth during the fan-out (max RSS): {result['rss_growth_mb']:.0f} MB")
    print("  how it grows (each fan-out after the smaller ones, same database and worker code):")
    for count, step in results.items():
        step_rate = step["delivered"] / step["seconds"]
        print(f"    {count:>7,} subscriptions: {step['delivered']:,.0f} delivered in {step['seconds']:6.2f} s = "
              f"{step_rate:6,.0f}/s, peak memory growth {step['rss_growth_mb']:4.0f} MB"
              + (" (the first timed, the rest taken out)" if count > TIMED_AT_MOST else ""))  # fmt: skip
        if count != FANOUT:
            record(f"Web Push fan-out ({FANOUT:,} subscriptions)", f"{count:,} subscriptions: deliveries/s",
                   f"{step_rate:,.0f}/s", peer=f"sequential pywebpush {baseline_rate:,.0f}/s",
                   ratio=step_rate / baseline_rate)  # fmt: skip
    name = f"Web Push fan-out ({FANOUT:,} subscriptions)"
    record(name, "deliveries/s", f"{rate:,.0f}/s", peer=f"sequential pywebpush {baseline_rate:,.0f}/s", ratio=speedup,
           measured=rate, target=Target(TARGET_RATE))  # fmt: skip
    record(name, "speed-up over sequential pywebpush", f"{speedup:.1f}x", ratio=speedup, target=Target(TARGET_SPEEDUP))
    record(name, "p95 commit -> received", f"{p95:.0f} ms", measured=p95,
           target=Target(TARGET_P95_MS, higher_is_better=False))  # fmt: skip


if __name__ == "__main__":
    main()
