"""Edge-device heartbeats against `porchlight serve --workers 2` on PostgreSQL, driven by wrk on the same machine:
heartbeats/s and latency beside the same server's `GET /health` (one `SELECT 1`) with the same load generator
and concurrency, checked on the database afterwards; then what one heartbeat costs in-process (statements and
Python CPU) and the arithmetic for 100,000 devices.

Targets: at least 2,000 heartbeats/s with p99 under 100 ms on this 2-core machine (wrk on it too).

PostgreSQL: a scratch database is created on PORCHLIGHT_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) and dropped at the end. PORCHLIGHT_BENCH_SECONDS shortens
the 60 s load runs. The seeding and server helpers here are shared by the other device benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import backend.app  # noqa: F401  (every domain's models, so foreign keys resolve)
from backend.accounts.models import User, UserRole
from backend.db import make_engine
from backend.devices import service
from backend.devices.models import DeviceCamera, EdgeDevice
from backend.devices.schemas import HeartbeatIn
from backend.registry.models import Site
from backend.settings import PROJECT_ROOT, Settings
from backend.tokens import token_hash
from bench.report import QUICK, Target, record

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEVICES = 1_000 if QUICK else 5_000
CAMERAS_PER_DEVICE = 4
OWNERS = 250
CONNECTIONS, THREADS = 64, 1
WARMUP_SECONDS = 2 if QUICK else 5
SEGMENTS = 1 if QUICK else 2  # heartbeat and health runs alternate, so a noisy neighbour hits both alike
IN_PROCESS_HEARTBEATS = 300
FLEET, FLEET_INTERVAL_S = 100_000, 30
TARGET_RATE, TARGET_P99_MS = 2_000, 100.0


# --- shared by the device benchmarks ----------------------------------------------------------------------


def server_url() -> str:
    return os.environ.get("PORCHLIGHT_BENCH_DATABASE_URL") or DEFAULT_SERVER


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def server_env(url: str, var_dir: Path, port: int = 0) -> dict[str, str]:
    env = {
        **os.environ, "PORCHLIGHT_DATABASE_URL": url, "PORCHLIGHT_VAR_DIR": str(var_dir),
        "PORCHLIGHT_SECRET_KEY": "bench", "PORCHLIGHT_SHOW_DEMO_LOGINS": "0", "PORCHLIGHT_HOST": "127.0.0.1",
    }  # fmt: skip
    if port:
        env["PORCHLIGHT_PORT"] = str(port)
    return env


def porchlight_command() -> str:
    return str(Path(sys.executable).parent / "porchlight")


@contextlib.contextmanager
def scratch_database(label: str, var_dir: Path) -> Iterator[str]:
    """A new PostgreSQL database migrated with `porchlight migrate`; dropped afterwards (even on error)."""
    server = server_url()
    name = f"porchlight_bench_{label}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(server, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        subprocess.run(
            [porchlight_command(), "migrate"], cwd=PROJECT_ROOT, env=server_env(url, var_dir), check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        yield url
    finally:
        asyncio.run(_pg_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_reachable() -> bool:
    try:
        asyncio.run(_pg_execute(server_url(), "SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"  (skipped: no PostgreSQL at {server_url()}: {exc}; set PORCHLIGHT_BENCH_DATABASE_URL)")
        return False
    return True


def bench_engine(url: str, var_dir: Path) -> AsyncEngine:
    return make_engine(Settings(database_url=url, secret_key="bench", var_dir=var_dir, show_demo_logins=False))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(url: str, var_dir: Path, workers: int = 2) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`porchlight serve --workers N` on a free port, up once /health answers; stopped at the end, even on error."""
    port = free_port()
    log_path = var_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [porchlight_command(), "serve", "--workers", str(workers)], cwd=PROJECT_ROOT,
            env=server_env(url, var_dir, port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /health: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            time.sleep(1.0)  # both workers up (each answers /health on its own)
            yield base, process
        finally:
            process.terminate()  # uvicorn's supervisor stops its workers
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def camera_health(n: int, sent_at: str, fps: float = 15.0) -> dict[str, Any]:
    return {
        "key": f"cam{n}", "name": f"Camera {n}", "frames_arriving": True, "fps": fps, "width": 1920, "height": 1080,
        "codec": "h264", "bitrate_bps": 2_000_000, "last_frame_at": sent_at, "error": "",
    }  # fmt: skip


def heartbeat_body(cameras: int, sent_at: str, uptime_s: int = 3600) -> dict[str, Any]:
    return {
        "agent_version": "0.1.0", "uptime_s": uptime_s, "disk_free_bytes": 8_000_000_000, "sent_at": sent_at,
        "reported_version": 0, "cameras": [camera_health(n, sent_at) for n in range(1, cameras + 1)],
    }  # fmt: skip


@dataclass(frozen=True)
class SeededDevice:
    id: uuid.UUID
    owner_id: uuid.UUID
    credential: str


async def seed_fleet(
    db: AsyncSession, count: int, *, owners: int, cameras_per_device: int, now: dt.datetime, sites_per_owner: int = 1,
    overdue: int = 0, chunk: int = 5_000,
) -> list[SeededDevice]:  # fmt: skip
    """Owners with sites and `count` paired, online devices, each with its cameras, in the state a steady heartbeat
    leaves them (same camera digest, so the next heartbeat is the cheap path). The first `overdue` devices missed
    their heartbeats (offline_after in the past)."""
    sent_at = now.isoformat()
    report = msgspec.convert(heartbeat_body(cameras_per_device, sent_at), HeartbeatIn)
    digest, health = service._cameras_digest(report), msgspec.json.decode(msgspec.json.encode(service._health(report)))
    keys = [f"cam{n}" for n in range(1, cameras_per_device + 1)]
    owner_ids = [uuid.uuid4() for _ in range(owners)]
    site_ids = {o: [uuid.uuid4() for _ in range(sites_per_owner)] for o in owner_ids}
    await db.execute(
        insert(User),
        [{"id": o, "email": f"owner{n}@bench.example", "password_hash": None, "display_name": f"Owner {n}"}
         for n, o in enumerate(owner_ids)],
    )  # fmt: skip
    await db.execute(insert(UserRole), [{"user_id": o, "role": "owner"} for o in owner_ids])
    await db.execute(
        insert(Site),
        [{"id": s, "owner_id": o, "name": f"Shop {n}", "address": "1 Main St", "latitude": 43.04,
          "longitude": -87.91, "kind": "business", "contact_phone": "555-0100"}
         for o in owner_ids for n, s in enumerate(site_ids[o])],
    )  # fmt: skip
    seeded: list[SeededDevice] = []
    for start in range(0, count, chunk):
        devices, cameras = [], []
        for n in range(start, min(start + chunk, count)):
            owner_id = owner_ids[n % owners]
            device_id, credential = uuid.uuid4(), f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}"
            late = n < overdue
            last = now - dt.timedelta(seconds=150 if late else 20)
            devices.append({
                "id": device_id, "owner_id": owner_id, "site_id": site_ids[owner_id][n % sites_per_owner],
                "name": f"Core {n}", "status": "online", "status_since": now - dt.timedelta(days=3),
                "credential_hash": token_hash(credential), "created_at": now - dt.timedelta(days=3),
                "paired_at": now - dt.timedelta(days=3), "last_heartbeat_at": last,
                "offline_after": last + service.OFFLINE_AFTER, "agent_version": "0.1.0", "uptime_s": 3600,
                "disk_free_bytes": 8_000_000_000, "clock_offset_s": 0.0, "health": health, "cameras_digest": digest,
                "desired_version": 1, "reported_version": 0,
                "desired": {"version": 1, "device_name": f"Core {n}", "site_name": "Shop",
                            "heartbeat_interval_s": service.HEARTBEAT_INTERVAL_S,
                            "cameras": [{"key": k, "linked_camera": None} for k in keys], "share": None},
            })  # fmt: skip
            cameras += [
                {"id": uuid.uuid4(), "device_id": device_id, "key": k, "name": f"Camera {k[3:]}", "status": "online",
                 "status_since": now - dt.timedelta(days=3), "created_at": now - dt.timedelta(days=3),
                 "silent_since": None}
                for k in keys
            ]  # fmt: skip
            seeded.append(SeededDevice(device_id, owner_id, credential))
        await db.execute(insert(EdgeDevice), devices)
        if cameras:
            await db.execute(insert(DeviceCamera), cameras)
        await db.commit()
    return seeded


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --- the heartbeat benchmark --------------------------------------------------------------------------------

_DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d "
    .. "p50_us=%d p99_us=%d mean_us=%.1f max_us=%d\\n", summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


def _heartbeat_lua(credentials: list[str], cameras: int) -> str:
    """Each request is the next device's heartbeat (round robin over all of them), with its fps jittered."""
    camera = (
        '{{"key":"cam{n}","name":"Camera {n}","frames_arriving":true,"fps":%.2f,"width":1920,"height":1080,'
        '"codec":"h264","bitrate_bps":2000000,"last_frame_at":"%s","error":""}}'
    )
    template = (
        '{"agent_version":"0.1.0","uptime_s":%d,"disk_free_bytes":8000000000,"sent_at":"%s","reported_version":0,'
        '"cameras":[' + ",".join(camera.format(n=n) for n in range(1, cameras + 1)) + "]}"
    )
    fps_args = ", ".join(["14.5 + math.random(), now"] * cameras)
    listed = ",\n".join(f'"{c}"' for c in credentials)
    return (
        f"""
local credentials = {{
{listed}
}}
local count = #credentials
local turn = 0
init = function(args)
  turn = (tonumber(args[1]) or 0) % count  -- each run goes on where the previous one stopped
end
local template = '{template}'
wrk.method = "POST"
request = function()
  turn = turn % count + 1
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local body = string.format(template, 3600 + turn, now, {fps_args})
  return wrk.format("POST", "/device/v1/heartbeat",
    {{["Authorization"] = "Bearer " .. credentials[turn], ["Content-Type"] = "application/json"}}, body)
end
"""
        + _DONE_LUA
    )


def _health_lua() -> str:
    return 'wrk.path = "/health"\n' + _DONE_LUA


def run_wrk(base: str, script: Path, seconds: int, start: int = 0) -> dict[str, float]:
    completed = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base,
         "--", str(start)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {completed.stdout}{completed.stderr}")
    figures = {k: float(v) for k, v in (part.split("=") for part in line.split()[1:])}
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    return figures


async def _table_stats(engine: AsyncEngine) -> dict[str, tuple[int, int, int]]:
    """Rows updated, inserted, and updated in place (HOT: no index touched) per table, as PostgreSQL counts them."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT relname, n_tup_upd, n_tup_ins, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname IN "
                "('edge_devices', 'device_cameras', 'device_outages', 'notifications')"
            )
        )
        return {name: (updated, inserted, hot) for name, updated, inserted, hot in rows}


async def _fleet_state(engine: AsyncEngine, seeded_at: dt.datetime, digest: str) -> dict[str, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE last_heartbeat_at > :seeded), "
                    "count(*) FILTER (WHERE status <> 'online'), count(*) FILTER (WHERE cameras_digest <> :digest), "
                    "count(*) FILTER (WHERE desired_version <> 1), "
                    "(SELECT count(*) FROM device_cameras WHERE status <> 'online' OR silent_since IS NOT NULL), "
                    "(SELECT count(*) FROM device_outages), (SELECT count(*) FROM notifications) FROM edge_devices"
                ),
                {"seeded": seeded_at, "digest": digest},
            )
        ).one()
    names = ("moved", "not_online", "digest_changed", "desired_changed", "cameras_changed", "outages", "notifications")
    return dict(zip(names, row, strict=True))


async def _in_process_cost(engine: AsyncEngine, devices: list[SeededDevice]) -> dict[str, Any]:
    """The service function alone, one session per heartbeat as a request has: statements, Python CPU (this
    process's CPU time: SQLAlchemy, asyncpg, the service; PostgreSQL's own work is another process), wall time;
    and the same for a session that runs `SELECT 1` and commits (what GET /health does), as the peer."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    reports = []
    for device in devices:
        body = heartbeat_body(CAMERAS_PER_DEVICE, dt.datetime.now(dt.UTC).isoformat())
        for camera in body["cameras"]:
            camera["fps"] = round(14.5 + random.random(), 2)
        reports.append((device.credential, msgspec.convert(body, HeartbeatIn)))

    async def beat(db: AsyncSession, credential: str, report: HeartbeatIn) -> None:
        await service.heartbeat(db, credential, report)

    async def select_one(db: AsyncSession, _credential: str, _report: HeartbeatIn) -> None:
        await db.execute(text("SELECT 1"))
        await db.commit()

    figures: dict[str, Any] = {}
    for name, work in (("heartbeat", beat), ("select_one", select_one)):
        for credential, report in reports[:20]:  # warm the connection pool and the statement caches
            async with sessions() as db:
                await work(db, credential, report)
        statements.clear()
        event.listen(Engine, "before_cursor_execute", count)
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            for credential, report in reports:
                async with sessions() as db:
                    await work(db, credential, report)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        figures[name] = {
            "statements": len(statements) / len(reports),
            "kinds": {kind: statements.count(kind) for kind in sorted(set(statements))},
            "cpu_us": cpu / len(reports) * 1e6, "wall_us": wall / len(reports) * 1e6,
        }  # fmt: skip

    # As the server records them: heartbeats arriving together (64 at once, as wrk's connections) share one write.
    batcher = service.HeartbeatBatcher(engine)
    statements.clear()
    event.listen(Engine, "before_cursor_execute", count)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(reports), CONNECTIONS):
            await asyncio.gather(*(batcher.record(c, r) for c, r in reports[start : start + CONNECTIONS]))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    figures["batched"] = {
        "statements": len(statements) / len(reports), "cpu_us": cpu / len(reports) * 1e6,
        "wall_us": wall / len(reports) * 1e6,
    }  # fmt: skip
    return figures


def _combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Segments of one kind: totals, the median p50 and the worst p99."""
    requests, seconds = sum(r["requests"] for r in runs), sum(r["duration_us"] for r in runs) / 1e6
    return {
        "requests": requests, "rate": requests / seconds, "seconds": seconds,
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000, "p99_ms": max(r["p99_us"] for r in runs) / 1000,
        "status": sum(r["status"] for r in runs), "errors": sum(r["errors"] for r in runs),
    }  # fmt: skip


def main() -> None:
    seconds = int(os.environ.get("PORCHLIGHT_BENCH_SECONDS", "5" if QUICK else "10"))
    print(f"\nDevice heartbeats: {DEVICES:,} devices x {CAMERAS_PER_DEVICE} cameras, `porchlight serve --workers 2`, "
          f"PostgreSQL, wrk -t{THREADS} -c{CONNECTIONS}, {seconds} s of each load")  # fmt: skip
    if shutil.which("wrk") is None:
        print("  (skipped: wrk is not installed; apt-get install -y wrk)")
        return
    if not postgres_reachable():
        return
    with tempfile.TemporaryDirectory() as tmp, scratch_database("heartbeats", Path(tmp)) as url:
        var_dir = Path(tmp)
        seeded_at = dt.datetime.now(dt.UTC)

        async def seed() -> tuple[list[SeededDevice], str]:
            engine = bench_engine(url, var_dir)
            async with AsyncSession(engine, expire_on_commit=False) as db:
                devices = await seed_fleet(
                    db, DEVICES, owners=OWNERS, cameras_per_device=CAMERAS_PER_DEVICE, now=seeded_at
                )
            await engine.dispose()
            body = heartbeat_body(CAMERAS_PER_DEVICE, seeded_at.isoformat())
            return devices, service._cameras_digest(msgspec.convert(body, HeartbeatIn))

        devices, digest = asyncio.run(seed())
        heartbeat_script, health_script = var_dir / "heartbeat.lua", var_dir / "health.lua"
        heartbeat_script.write_text(_heartbeat_lua([d.credential for d in devices], CAMERAS_PER_DEVICE))
        health_script.write_text(_health_lua())
        before = asyncio.run(_with_engine(url, var_dir, _table_stats))
        with running_server(url, var_dir) as (base, _server):
            warm_beats = run_wrk(base, heartbeat_script, WARMUP_SECONDS)
            run_wrk(base, health_script, WARMUP_SECONDS)
            segment, sent = max(5, round(seconds / SEGMENTS)), int(warm_beats["requests"])
            pairs = []
            for _ in range(SEGMENTS):
                pairs.append((run_wrk(base, heartbeat_script, segment, sent), run_wrk(base, health_script, segment)))
                sent += int(pairs[-1][0]["requests"])
        time.sleep(1.0)  # the server's connections closed: their statistics are flushed
        after = asyncio.run(_with_engine(url, var_dir, _table_stats))
        state = asyncio.run(_with_engine(url, var_dir, lambda e: _fleet_state(e, seeded_at, digest)))
        cost = asyncio.run(_with_engine(url, var_dir, lambda e: _in_process_cost(e, devices[:IN_PROCESS_HEARTBEATS])))

    beats, trivial = _combine([b for b, _ in pairs]), _combine([h for _, h in pairs])
    ratios = [b["rate"] / h["rate"] for b, h in pairs]
    answered = warm_beats["requests"] + beats["requests"] - warm_beats["status"] - beats["status"]
    updates, hot = (
        after["edge_devices"][0] - before["edge_devices"][0],
        after["edge_devices"][2] - before["edge_devices"][2],
    )
    slow_rows = sum(after[t][0] + after[t][1] - before[t][0] - before[t][1] for t in after if t != "edge_devices")
    ratio = beats["rate"] / trivial["rate"]
    p50, p99 = beats["p50_ms"], beats["p99_ms"]
    print(f"  ({SEGMENTS} alternating pairs of {segment} s heartbeat / {segment} s health segments after a "
          f"{WARMUP_SECONDS} s warm-up of each; p50 is the median of the segments', p99 the worst one's)")  # fmt: skip
    print(f"  heartbeats      {beats['rate']:7,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   "
          f"target >= {TARGET_RATE:,}/s {verdict(beats['rate'] >= TARGET_RATE)}, p99 < {TARGET_P99_MS:.0f} ms "
          f"{verdict(p99 < TARGET_P99_MS)}")  # fmt: skip
    record("Device heartbeats (2 workers, wrk)", "heartbeats/s", f"{beats['rate']:,.0f}/s",
           peer=f"GET /health {trivial['rate']:,.0f}/s", ratio=ratio, measured=beats["rate"],
           target=Target(TARGET_RATE))  # fmt: skip
    record("Device heartbeats (2 workers, wrk)", "heartbeat p99", f"{p99:.1f} ms",
           peer=f"GET /health {trivial['p99_ms']:.1f} ms", measured=p99,
           target=Target(TARGET_P99_MS, higher_is_better=False))  # fmt: skip
    print(f"  GET /health     {trivial['rate']:7,.0f}/s  p50 {trivial['p50_ms']:6.1f} ms  "
          f"p99 {trivial['p99_ms']:6.1f} ms   (peer: SELECT 1 through the same stack)")  # fmt: skip
    print(f"  ratio heartbeats/s / health req/s: median of the pairs {statistics.median(ratios):.2f}, of the totals "
          f"{ratio:.2f}   (per pair: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    print(f"  checks: {int(beats['requests']):,} heartbeats (+{int(warm_beats['requests']):,} warm-up), non-2xx "
          f"{int(beats['status'] + warm_beats['status'])}, socket errors {int(beats['errors'] + warm_beats['errors'])};"
          f" /health non-2xx {int(trivial['status'])}, socket errors {int(trivial['errors'])}")  # fmt: skip
    print(f"          UPDATEs of edge_devices counted by PostgreSQL {updates:,} for {int(answered):,} 2xx heartbeats"
          f" (+ those in flight when wrk stopped, up to {(SEGMENTS + 1) * CONNECTIONS}); {hot / max(1, updates):.0%}"
          f" of them HOT; devices whose last_heartbeat_at moved {state['moved']:,} of {DEVICES:,}")  # fmt: skip
    slow = (state["not_online"] + state["digest_changed"] + state["desired_changed"] + state["cameras_changed"]
            + state["outages"] + state["notifications"] + slow_rows)  # fmt: skip
    print(f"          slow path taken: {'no' if slow == 0 else 'YES'} (devices not online {state['not_online']}, "
          f"digest changed {state['digest_changed']}, desired changed {state['desired_changed']}, cameras changed "
          f"{state['cameras_changed']}, outages {state['outages']}, notifications {state['notifications']}, rows "
          f"written to camera/outage/notification tables {slow_rows})")  # fmt: skip
    one, peer, batched = cost["heartbeat"], cost["select_one"], cost["batched"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in one["kinds"].items())
    print(f"  one heartbeat in-process (service.heartbeat, {IN_PROCESS_HEARTBEATS} heartbeats, a session each): "
          f"{one['statements']:.2f} statements ({kinds}), {one['cpu_us']:,.0f} us Python CPU, "
          f"{one['wall_us']:,.0f} us wall")  # fmt: skip
    print(f"  peer in-process (a session, SELECT 1, commit): {peer['cpu_us']:,.0f} us Python CPU, "
          f"{peer['wall_us']:,.0f} us wall   ratio heartbeat / peer CPU: "
          f"{one['cpu_us'] / peer['cpu_us']:.1f}")  # fmt: skip
    print(f"  as the server records them, {CONNECTIONS} arriving together (HeartbeatBatcher): "
          f"{batched['statements']:.3f} statements, {batched['cpu_us']:,.0f} us Python CPU per heartbeat "
          f"({one['cpu_us'] / batched['cpu_us']:.1f}x less than alone)")  # fmt: skip
    needed = FLEET / FLEET_INTERVAL_S
    per_core = beats["rate"] / 2
    print(f"  {FLEET:,} devices at one heartbeat per {FLEET_INTERVAL_S} s = {needed:,.0f}/s; measured "
          f"{beats['rate']:,.0f}/s on 2 cores shared with wrk and PostgreSQL = {per_core:,.0f}/s per core -> "
          f"{needed / per_core:.1f} such cores; recording them (batched) takes "
          f"{needed * batched['cpu_us'] / 1e6:.1f} cores at {batched['cpu_us']:,.0f} us each; "
          "the rest is HTTP")  # fmt: skip


async def _with_engine(url: str, var_dir: Path, work: Any) -> Any:
    engine = bench_engine(url, var_dir)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
