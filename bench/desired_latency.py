"""A desired-state change reaching the device's long-poll across processes: `porchlight serve --workers 2` on
PostgreSQL holds 50 long-polls (`GET /device/v1/desired?version=N`); this process renames each device through
`devices.service.update_device`, whose commit NOTIFYs; the time from that commit to the 200 carrying the new
version, per device, beside a plain `GET /health` round trip to the same server in the same run.

Target: p95 under 1 s.

A scratch database is created on PORCHLIGHT_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) and dropped at the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.devices import service
from bench.device_heartbeats import (
    SeededDevice,
    bench_engine,
    postgres_reachable,
    running_server,
    scratch_database,
    seed_fleet,
    verdict,
)
from bench.report import QUICK, Target, record

DEVICES = 50
ROUNDS = 2 if QUICK else 4
PARK_SECONDS = 0.5
HEALTH_SAMPLES = 100
TARGET_P95_MS = 1_000


async def _seed(url: str, var_dir: Path) -> list[SeededDevice]:
    engine = bench_engine(url, var_dir)
    async with AsyncSession(engine, expire_on_commit=False) as db:
        devices = await seed_fleet(db, DEVICES, owners=10, cameras_per_device=4, now=dt.datetime.now(dt.UTC))
    await engine.dispose()
    return devices


async def _measure(url: str, var_dir: Path, base: str, devices: list[SeededDevice]) -> dict:
    engine = bench_engine(url, var_dir)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    limits = httpx.Limits(max_connections=DEVICES + 10, max_keepalive_connections=DEVICES + 10)
    samples: list[float] = []
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        health: list[float] = []
        for _ in range(HEALTH_SAMPLES):
            started = time.perf_counter()
            response = await client.get("/health")
            health.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text

        async def long_poll(device: SeededDevice, version: int) -> tuple[float, httpx.Response]:
            response = await client.get(
                "/device/v1/desired", params={"version": version},
                headers={"Authorization": f"Bearer {device.credential}"},
            )  # fmt: skip
            return time.perf_counter(), response

        committed: list[float] = []

        def mark_commit(_session: object) -> None:
            committed.append(time.perf_counter())

        version = 1
        for round_ in range(ROUNDS):
            polls = [asyncio.create_task(long_poll(d, version)) for d in devices]
            await asyncio.sleep(PARK_SECONDS)  # every long-poll is parked in one of the two workers
            assert not any(p.done() for p in polls), "a long-poll answered before any change"
            del committed[:]
            for n, device in enumerate(devices):
                async with sessions() as db:
                    event.listen(db.sync_session, "after_commit", mark_commit, once=True)
                    await service.update_device(db, device.owner_id, device.id, name=f"Core {n} round {round_}")
            results = await asyncio.gather(*polls)
            version += 1
            for commit_at, (answered_at, response) in zip(committed, results, strict=True):
                if response.status_code != 200 or response.json().get("version") != version:
                    wrong.append(f"{response.status_code} {response.text[:80]}")
                samples.append(answered_at - commit_at)
    await engine.dispose()
    return {"samples": samples, "health": health, "wrong": wrong}


def main() -> None:
    print(f"\nDesired state to the device: {DEVICES} long-polls on `porchlight serve --workers 2`, PostgreSQL "
          f"NOTIFY, {ROUNDS} rounds of a change per device from another process")  # fmt: skip
    if not postgres_reachable():
        return
    with tempfile.TemporaryDirectory() as tmp, scratch_database("desired", Path(tmp)) as url:
        var_dir = Path(tmp)
        devices = asyncio.run(_seed(url, var_dir))
        with running_server(url, var_dir) as (base, _server):
            result = asyncio.run(_measure(url, var_dir, base, devices))
    samples = [s * 1000 for s in result["samples"]]
    p50, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
    met = verdict(p95 < TARGET_P95_MS)
    health = statistics.median(result["health"]) * 1000
    print(f"  commit -> 200 with the new version ({len(samples)} samples): p50 {p50:.1f} ms, p95 {p95:.1f} ms,"
          f" worst {max(samples):.1f} ms   target p95 < {TARGET_P95_MS:,} ms {met}")  # fmt: skip
    print(f"  GET /health round trip, same server and client: median {health:.1f} ms   ratio p50 / health: "
          f"{p50 / health:.1f}")  # fmt: skip
    record("Desired state to the device", "commit -> long-poll answered, p95", f"{p95:.1f} ms",
           peer=f"GET /health {health:.1f} ms", ratio=p50 / health, measured=p95,
           target=Target(TARGET_P95_MS, higher_is_better=False))  # fmt: skip
    print(f"  checks: every sample a 200 carrying the new version: "
          f"{'yes' if not result['wrong'] else 'NO: ' + '; '.join(result['wrong'][:3])}")  # fmt: skip


if __name__ == "__main__":
    main()
