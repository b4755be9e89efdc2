"""200 signed-in owners on `porchlight serve` over keep-alive connections, PostgreSQL (issue 17): requests/s, p50/p99
latency, connections and RSS per worker process, for `--workers 1`, `--workers 2` (a listening socket per worker,
SO_REUSEPORT), and uvicorn's own `--workers 2` (one listening socket shared by the workers: `porchlight serve`
before issue 17) as the peer that shows what the sockets changed.

Each owner is one keep-alive connection with its own session cookie, all opened at once (phones reconnecting after
a deploy), asking for GET /api/v1/requests and GET /api/v1/sites in turn. On each fresh server: a warm-up, then
as fast as answers come (the server's capacity; with 200 connections waiting on each other, the latency there is
Little's law: 200 / the rate), then polling at POLL_LOAD of the rate `serve --workers 2` reached, the same rate for
every configuration (each owner asks every 200 / rate seconds, or at once when an answer came later), then GET
/health (one `SELECT 1` through the same stack) on the same connections as the request-rate peer. Target: p99
under 500 ms at 2 workers, on this 2-core machine with the load generator and PostgreSQL on it too. Before the
load, on a server with 2 workers: 10 bursts of 40 connections opened at once to the idle server, and how many each
worker accepted (with one shared socket, whichever worker runs first accepts all that are waiting).

PostgreSQL: a scratch database on PORCHLIGHT_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), dropped at the end. PORCHLIGHT_BENCH_SECONDS sets each
phase's length (default 4 s; the peer gets half), so about 20 s per configuration with the server's start and the
bursts. The machine is shared: run it twice and compare, and read the rates of the three servers of one run
together (they ran within two minutes of each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, User, UserRole, UserSession
from backend.registry import geo
from backend.registry.models import Camera, Site
from backend.requests import service as requests_service
from backend.requests.schemas import AreaRequestIn
from backend.settings import PROJECT_ROOT
from backend.tokens import new_token, token_hash
from bench.device_heartbeats import (
    bench_engine,
    free_port,
    porchlight_command,
    postgres_reachable,
    scratch_database,
    server_env,
    verdict,
)
from bench.report import QUICK, Target, record

OWNERS = 200
CAMERAS_PER_OWNER = 2
AREA_REQUESTS = 3  # each owner has this many footage requests to list
OWNER_PATHS = ("/api/v1/requests", "/api/v1/sites")
PEER_PATHS = ("/health",)
WARMUP_SECONDS = 1.0 if QUICK else 2.0
POLL_LOAD = 0.6  # the polling phase asks for this share of the rate `serve --workers 2` reached
REQUEST_TIMEOUT_S = 30.0
BURSTS, BURST_CONNECTIONS = 10, 40  # connections opened at once to the idle server, before the load
TARGET_P99_MS = 500.0
TARGET_WORKER_RSS_MB = 150.0  # issue 16


# --- seeding ------------------------------------------------------------------------------------------------


async def seed_owners(
    url: str, var_dir: Path, owners: int = OWNERS, *, sites_per_owner: int = 1,
    cameras_per_site: int = CAMERAS_PER_OWNER, area_requests: int = AREA_REQUESTS, label: str = "",
) -> list[str]:  # fmt: skip
    """`owners` owner accounts, each with its sites and their cameras, `area_requests` footage requests (each one a
    notification too) and a signed-in session; returns their session tokens (the porchlight_session cookie). On
    PostgreSQL or SQLite. `label` sets these owners apart from others seeded into the same database."""
    engine = bench_engine(url, var_dir)
    now = dt.datetime.now(dt.UTC)
    users, roles, sites, cameras, sessions, tokens = [], [], [], [], [], []
    for n in range(owners):
        owner_id = uuid.uuid4()
        lat, lon = 43.04 + (n % 20) * 0.0002, -87.91 + (n // 20) * 0.0002
        users.append({"id": owner_id, "email": f"owner{label}{n}@bench.example", "password_hash": None,
                      "display_name": f"Owner {n}"})  # fmt: skip
        roles.append({"user_id": owner_id, "role": "owner"})
        for s in range(sites_per_owner):
            site_id = uuid.uuid4()
            sites.append({"id": site_id, "owner_id": owner_id, "name": f"Home {n}" + (f"-{s}" if s else ""),
                          "address": f"{n} Main St", "latitude": lat, "longitude": lon, "kind": "home",
                          "contact_phone": "555-0100"})  # fmt: skip
            for c in range(cameras_per_site):
                cameras.append({"id": uuid.uuid4(), "site_id": site_id, "name": f"Camera {c}", "latitude": lat,
                                "longitude": lon, "bearing_deg": 90 * c, "field_of_view_deg": 90, "range_m": 30,
                                "placement": "outdoor", "recorder": "cloud", "retention_days": 14,
                                "geo_cell": geo.cell_id(lat, lon)})  # fmt: skip
        token = new_token()
        tokens.append(token)
        sessions.append({"id": uuid.uuid4(), "token_hash": token_hash(token), "user_id": owner_id, "created_at": now,
                         "last_seen_at": now, "expires_at": now + dt.timedelta(days=30), "user_agent": "bench",
                         "ip": "127.0.0.1"})  # fmt: skip
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            for model, rows in ((User, users), (UserRole, roles), (Site, sites), (Camera, cameras),
                                (UserSession, sessions)):  # fmt: skip
                await db.execute(insert(model), rows)
            await db.commit()
            investigator = await accounts.create_user(
                db, email=f"det{label}@bench.example", password=None, display_name="Det", roles=[Role.INVESTIGATOR],
                agency_name="Bench PD",
            )  # fmt: skip
            for n in range(area_requests):
                data = AreaRequestIn(
                    camera_ids=[c["id"] for c in cameras], case_number=f"BENCH-{n}", request_type="voluntary",
                    incident_latitude=43.041, incident_longitude=-87.909,
                    window_start=now - dt.timedelta(hours=5 + n), window_end=now - dt.timedelta(hours=4 + n),
                )  # fmt: skip
                await requests_service.send_area_request(db, investigator, data, ip="127.0.0.1")
        async with engine.connect() as connection:  # the planner's statistics, so that no server runs before them
            analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(text(analyze))
    finally:
        await engine.dispose()
    return tokens


# --- the server and its worker processes --------------------------------------------------------------------


@contextlib.contextmanager
def serving(command: list[str], url: str, var_dir: Path, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """The server command on `port`, once /health answers and each of its `workers` has said its startup is
    complete; SIGTERM at the end (then SIGKILL to its process group if it has not stopped within 30 s)."""
    log_path = var_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=server_env(url, var_dir, port), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count("Application startup complete.") < workers or not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def tcp_sockets(port: int) -> dict[str, str]:
    """Socket inode -> TCP state ('01' established, '0A' listening) of every socket whose local port is `port`."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    sockets[fields[9]] = fields[3]
    return sockets


def worker_pids(server_pid: int, port: int) -> list[int]:
    """The server's processes that listen on `port` (with uvicorn's or porchlight's supervisor: its workers, the
    child processes; with one worker: the server process itself)."""
    listening = {inode for inode, state in tcp_sockets(port).items() if state == "0A"}
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == server_pid:
                    children.append(int(entry))
    workers = [pid for pid in children if socket_inodes(pid) & listening]
    return sorted(workers) or [server_pid]


def connections_per_worker(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on `port` that each process holds."""
    established = {inode for inode, state in tcp_sockets(port).items() if state == "01"}
    return {pid: len(socket_inodes(pid) & established) for pid in pids}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --- the load -----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One stretch of load on the owners' connections: latencies of the requests sent in it, answers within it."""

    seconds: float
    offered: float = 0.0  # requests/s asked for; 0: as fast as answers come
    latencies_ms: list[float] = field(default_factory=list)
    answered: int = 0  # 200 answers received within the phase's seconds
    failed: int = 0  # other answers, broken connections, time-outs
    reconnected: int = 0  # connections the server had closed, opened again

    @property
    def rate(self) -> float:
        return self.answered / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1] if self.latencies_ms else 0.0


def _request(port: int, path: str, token: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
            f"Cookie: porchlight_session={token}\r\n\r\n").encode()  # fmt: skip


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One request on a keep-alive connection; its status (the body read and dropped)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head[9:12])


class Owners:
    """One keep-alive connection per owner, all opened at once (phones reconnecting after a deploy)."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        self.port, self.tokens = port, tokens
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self) -> None:
        self.streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", self.port) for _ in self.tokens))

    def close(self) -> None:
        for _, writer in self.streams:
            writer.close()

    async def phase(self, paths: tuple[str, ...], seconds: float, rate: float | None = None) -> Phase:
        """Each owner asks for `paths` in turn for `seconds`: as fast as answers come, or with `rate`, every
        owner every len(owners)/rate seconds (from a random start; at once again if an answer came later)."""
        phase = Phase(seconds, rate or 0.0)
        start = time.perf_counter()
        stop_at = start + seconds
        every = len(self.streams) / rate if rate else 0.0

        async def owner(n: int) -> None:
            requests = [_request(self.port, path, self.tokens[n]) for path in paths]
            due = start + random.random() * every
            for turn in itertools.count(n):
                await asyncio.sleep(min(due, stop_at) - time.perf_counter())
                if (sent := time.perf_counter()) >= stop_at:
                    return
                reader, writer = self.streams[n]
                if reader.at_eof():  # closed by the server after 5 s unused (uvicorn's keep-alive): open another
                    reader, writer = self.streams[n] = await asyncio.open_connection("127.0.0.1", self.port)
                    phase.reconnected += 1
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        status = await _exchange(reader, writer, requests[turn % len(requests)])
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    phase.failed += 1
                    return
                answered = time.perf_counter()
                phase.latencies_ms.append((answered - sent) * 1000)
                if status != 200:
                    phase.failed += 1
                elif answered <= stop_at:
                    phase.answered += 1
                due = max(due + every, answered)

        await asyncio.gather(*(owner(n) for n in range(len(self.streams))))
        return phase


async def burst_split(port: int, tokens: list[str], pids: list[int]) -> list[int]:
    """BURST_CONNECTIONS connections opened at once to the idle server, each answered once: how many each worker
    accepted."""
    owners = Owners(port, tokens[:BURST_CONNECTIONS])
    await owners.open()
    try:
        await asyncio.gather(*(_exchange(r, w, _request(port, "/health", "")) for r, w in owners.streams))
        return list(connections_per_worker(pids, port).values())
    finally:
        owners.close()
        await asyncio.sleep(0.3)  # closed on both sides before the next


@dataclass
class Run:
    """One server configuration's figures."""

    saturated: Phase  # as fast as answers come
    polling: Phase  # at POLL_LOAD of `serve --workers 2`'s saturated rate
    peer: Phase  # GET /health, as fast as answers come
    connections: dict[int, int]  # worker pid -> owners' connections it held, halfway as fast as answers come
    rss_mib: dict[int, float]  # pid -> resident memory then, of each worker and of the supervisor if there is one
    supervisor: int
    bursts: list[list[int]]  # per burst, the connections each worker accepted
    cpu_ms: float  # the workers' CPU time per request, as fast as answers come
    load_average: float  # the machine's (1 min) when the server had started: other work on it


def measure(
    command: list[str], workers: int, url: str, var_dir: Path, tokens: list[str], seconds: float, rate: float | None
) -> Run:
    """A fresh server: the owners' connections, a warm-up, as fast as answers come, polling at `rate` (None: at
    POLL_LOAD of the rate just measured), then the peer, all on the same connections."""
    port = free_port()
    command = [*(part.format(port=port) for part in command), str(workers)]
    with serving(command, url, var_dir, port, workers) as process:
        pids = worker_pids(process.pid, port)

        async def census(delay: float) -> tuple[dict[int, int], dict[int, float]]:
            await asyncio.sleep(delay)
            return connections_per_worker(pids, port), {pid: rss_mib(pid) for pid in [*pids, process.pid]}

        load_average = os.getloadavg()[0]

        async def load() -> Run:
            bursts = [await burst_split(port, tokens, pids) for _ in range(BURSTS if len(pids) > 1 else 0)]
            owners = Owners(port, tokens)
            await owners.open()
            try:
                await owners.phase(OWNER_PATHS, WARMUP_SECONDS)
                cpu = cpu_seconds(pids)
                saturated, (connections, rss) = await asyncio.gather(
                    owners.phase(OWNER_PATHS, seconds), census(seconds / 2)
                )
                cpu_ms = (cpu_seconds(pids) - cpu) * 1000 / max(1, len(saturated.latencies_ms))
                polling = await owners.phase(OWNER_PATHS, seconds, rate or POLL_LOAD * saturated.rate)
                peer = await owners.phase(PEER_PATHS, seconds / 2)
            finally:
                owners.close()
            return Run(saturated, polling, peer, connections, rss, process.pid, bursts, cpu_ms, load_average)

        return uvloop.run(load())


def _figures(phase: Phase) -> str:
    return (f"{phase.rate:5,.0f} req/s  p50 {phase.percentile(50):6,.0f} ms  p99 {phase.percentile(99):6,.0f} ms  "
            f"(max {max(phase.latencies_ms, default=0):6,.0f})")  # fmt: skip


def _report(label: str, run: Run, target: bool) -> None:
    def goal(phase: Phase) -> str:
        met = verdict(phase.percentile(99) < TARGET_P99_MS)
        return f"   target p99 < {TARGET_P99_MS:.0f} ms {met}" if target else ""

    failed = run.saturated.failed + run.polling.failed + run.peer.failed
    reconnected = run.saturated.reconnected + run.polling.reconnected + run.peer.reconnected
    connections = "/".join(str(n) for n in run.connections.values())
    rss = "/".join(f"{run.rss_mib[pid]:.0f}" for pid in run.connections)
    if run.supervisor not in run.connections:
        rss += f" (supervisor {run.rss_mib[run.supervisor]:.0f})"
    print(f"  {label}: connections per worker {connections}, RSS per worker {rss} MiB, failed requests {failed}, "
          f"connections opened again {reconnected}; machine load average {run.load_average:.1f}")  # fmt: skip
    if run.bursts:
        print(f"    {BURSTS} bursts of {BURST_CONNECTIONS} connections to the idle server, per worker: "
              f"{'  '.join('/'.join(map(str, split)) for split in run.bursts)}")  # fmt: skip
    print(f"    as fast as answers come  {_figures(run.saturated)}{goal(run.saturated)}   "
          f"workers' CPU {run.cpu_ms:.1f} ms/request")  # fmt: skip
    print(f"    polling at {run.polling.offered:4,.0f} req/s    "
          f"{_figures(run.polling)}{goal(run.polling)}")  # fmt: skip
    print(f"    peer GET /health          {_figures(run.peer)}   owners' rate / peer's "
          f"{run.saturated.rate / run.peer.rate:.2f}")  # fmt: skip
    if target:
        name, peer = f"{OWNERS} owners, {label}", f"GET /health p99 {run.peer.percentile(99):,.0f} ms"
        for what, phase in (("as fast as answers come", run.saturated), ("polling", run.polling)):
            p99 = phase.percentile(99)
            record(name, f"{what}: p99 ({phase.rate:,.0f} req/s)", f"{p99:,.0f} ms", peer=peer, measured=p99,
                   target=Target(TARGET_P99_MS, higher_is_better=False))  # fmt: skip
        worst_rss = max(run.rss_mib[pid] for pid in run.connections) * 1.048576  # MiB -> MB
        record(name, "RSS of a worker under this load, the largest", f"{worst_rss:.0f} MB", measured=worst_rss,
               target=Target(TARGET_WORKER_RSS_MB, higher_is_better=False))  # fmt: skip


def main() -> None:
    seconds = float(os.environ.get("PORCHLIGHT_BENCH_SECONDS", "1" if QUICK else "4"))
    print(f"\nServe workers: {OWNERS} signed-in owners, one keep-alive connection each (opened at once), asking for "
          f"GET {' and '.join(OWNER_PATHS)} in turn; PostgreSQL; {WARMUP_SECONDS:.0f} s warm-up, {seconds:.0f} s as "
          f"fast as answers come, {seconds:.0f} s polling at {POLL_LOAD:.0%} of the rate `serve --workers 2` reached, "
          f"{seconds / 2:.0f} s of the peer (GET /health: one SELECT 1 through the same stack)")  # fmt: skip
    if not postgres_reachable():
        return
    serve = [porchlight_command(), "serve", "--port", "{port}", "--workers"]
    shared_socket = [sys.executable, "-m", "uvicorn", "--factory", "backend.app:create_app_from_env",
                     "--host", "127.0.0.1", "--port", "{port}", "--proxy-headers", "--workers"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, scratch_database("serve", Path(tmp)) as url:
        tokens = asyncio.run(seed_owners(url, Path(tmp)))
        two = measure(serve, 2, url, Path(tmp), tokens, seconds, None)
        one = measure(serve, 1, url, Path(tmp), tokens, seconds, two.polling.offered)
        shared = measure(shared_socket, 2, url, Path(tmp), tokens, seconds, two.polling.offered)
    _report("porchlight serve --workers 1", one, target=False)
    _report("porchlight serve --workers 2", two, target=True)
    _report("uvicorn --workers 2 (peer: one listening socket shared by its workers)", shared, target=False)
    print(f"  gain of the second worker, as fast as answers come: {two.saturated.rate / one.saturated.rate:.2f}x")


if __name__ == "__main__":
    main()
