"""Push delivery through faults (issue 17), on PostgreSQL with `porchlight worker` processes and the fake push
service (HTTPS on loopback, its own process):

1. a worker killed with SIGKILL a third of the way through 5,000 messages and started again: duplicates, and
   seconds from the restart until every message is delivered;
2. every connection of the worker cut 8 times (pg_terminate_backend) during a 5,000-message fan-out: duplicates,
   and seconds from the last cut until every message is delivered.

The peer, measured in the same run, is the same fan-out with no fault. Targets: duplicates <= 20, drain <= 30 s.
PostgreSQL: scratch databases on PORCHLIGHT_BENCH_DATABASE_URL (see device_heartbeats), dropped at the end.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from backend.settings import PROJECT_ROOT
from bench.device_heartbeats import (
    bench_engine,
    porchlight_command,
    postgres_reachable,
    scratch_database,
    server_env,
    server_url,
)
from bench.push_fanout import enqueue_one_each, new_subscriptions, start_fake_service, stats
from bench.report import QUICK, Target, record

MESSAGES = 1_000 if QUICK else 5_000
CUTS = 8
TARGET_DUPLICATES, TARGET_DRAIN_S = 20, 30.0


async def enqueue(url: str, var_dir: Path, origin: str, ca_file: str) -> None:
    engine = bench_engine(url, var_dir)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        await enqueue_one_each(db, await new_subscriptions(origin, ca_file, MESSAGES))
    await engine.dispose()


async def delivered(url: str) -> int:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        return await connection.fetchval("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
    finally:
        await connection.close()


def worker(url: str, var_dir: Path, ca_file: str) -> subprocess.Popen[bytes]:
    env = {**server_env(url, var_dir), "PORCHLIGHT_PUSH_EXTRA_HOSTS": "127.0.0.1", "PORCHLIGHT_PUSH_CA_FILE": ca_file}
    return subprocess.Popen(
        [porchlight_command(), "worker"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def until(url: str, count: int) -> float:
    """Seconds until `count` messages are delivered (polling the outbox every 20 ms)."""
    started = time.perf_counter()
    while await delivered(url) < count:
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def cut_every_connection(url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(make_url(server_url()).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()


def run(label: str, fault: str, origin: str, ca_file: str, directory: Path) -> dict[str, float]:
    """One fan-out of MESSAGES with the given fault ("none", "kill" or "cuts")."""
    with scratch_database(f"faults_{label}", directory) as url:
        asyncio.run(enqueue(url, directory, origin, ca_file))
        before = asyncio.run(stats(origin, ca_file))["delivered"]
        process = worker(url, directory, ca_file)
        try:
            if fault == "none":
                drain = asyncio.run(until(url, MESSAGES))
            elif fault == "kill":
                asyncio.run(until(url, MESSAGES // 3))
                process.send_signal(signal.SIGKILL)
                process.wait()
                process = worker(url, directory, ca_file)
                drain = asyncio.run(until(url, MESSAGES))
            else:

                async def cuts() -> float:
                    await until(url, 200)
                    for _ in range(CUTS):
                        await cut_every_connection(url)
                        await asyncio.sleep(0.25)
                    return await until(url, MESSAGES)

                drain = asyncio.run(cuts())
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        received = asyncio.run(stats(origin, ca_file))["delivered"] - before
    return {"drain": drain, "duplicates": received - MESSAGES}


def main() -> None:
    print(f"\nPush delivery through faults: {MESSAGES:,} messages, `porchlight worker`, PostgreSQL, fake push service")
    if not postgres_reachable():
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fake, origin, ca_file = start_fake_service(directory)
        try:
            peer = run("none", "none", origin, ca_file, directory)
            killed = run("kill", "kill", origin, ca_file, directory)
            cut = run("cuts", "cuts", origin, ca_file, directory)
        finally:
            fake.terminate()
            fake.wait()

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"  peer, no fault: {MESSAGES:,} delivered in {peer['drain']:.1f} s, {peer['duplicates']} duplicates")
    for name, result, what in (
        ("worker SIGKILL at a third, restarted", killed, "from the restart"),
        (f"{CUTS} cuts of every connection", cut, "after the last cut"),
    ):
        ok = result["duplicates"] <= TARGET_DUPLICATES and result["drain"] <= TARGET_DRAIN_S
        print(
            f"  {name}: {result['duplicates']} duplicates (target <= {TARGET_DUPLICATES}), drained in "
            f"{result['drain']:.1f} s {what} = {result['drain'] / peer['drain']:.1f}x the peer's whole fan-out "
            f"(target <= {TARGET_DRAIN_S:.0f} s)  {verdict(ok)}"
        )
        record("Push delivery through faults", f"{name}: duplicates", f"{result['duplicates']}",
               peer=f"no fault: {peer['duplicates']}", measured=result["duplicates"],
               target=Target(TARGET_DUPLICATES, higher_is_better=False, noise=0))  # fmt: skip
        record("Push delivery through faults", f"{name}: drained", f"{result['drain']:.1f} s",
               peer=f"no fault: {peer['drain']:.1f} s", ratio=result["drain"] / peer["drain"], measured=result["drain"],
               target=Target(TARGET_DRAIN_S, higher_is_better=False))  # fmt: skip


if __name__ == "__main__":
    main()
