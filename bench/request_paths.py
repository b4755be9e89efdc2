"""Signed-in request paths against bare Litestar (issue 16): requests/s of `porchlight serve` (one worker) for GET
/health (anonymous) and, signed in as a demo-like owner, GET /api/v1/sites, /api/v1/requests, /api/v1/notifications
and the /sites page, each beside a bare Litestar app (one route returning a small JSON object) started the same
way (uvicorn, one process) in the same run, on PostgreSQL and on SQLite.

The load generator is wrk (Debian's `wrk`), one thread and CONNECTIONS keep-alive connections, in its own process
on the same machine. Each figure alternates with the peer: route, peer, route, peer... (ROUNDS times), and its ratio
is the median of route/peer of each pair, so a neighbour's burst on this shared 2-core machine hits both alike.
CPU ms/req is the server process's CPU time per request over its segments (median), which moves less with the
neighbours than a rate does.
Every request, the peer's too, says what a browser's does: Accept-Encoding gzip, Sec-Fetch-Site same-origin; so an
answer over 1 KB is compressed (backend/compression.py) and its cost is in the figure.
The floor under /health on PostgreSQL, measured on the peer's process: the bare app reading SELECT 1 through
SQLAlchemy's async engine (pooled, no BEGIN), and through asyncpg's own pool; nothing of Porchlight runs there.
How cost grows: GET /api/v1/requests is measured again as owners with GROWTH requests each (the list is paged, so
it should stay flat).
The owners (OWNERS of them, taken in turn) have 2 sites of 3 cameras, 5 footage requests and their 5 notifications,
as the demo owner has about.

Targets (issue 16, ratios to bare Litestar): signed-in JSON reads >= 0.20 on PostgreSQL and >= 0.12 on SQLite; the
page >= 0.12 / 0.08; /health >= 0.5. A ratio within NOISE of its target reads "noise", not "MISSED".

PostgreSQL: a scratch database on PORCHLIGHT_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), dropped at the end; SQLite: a file in a temporary directory.
PORCHLIGHT_BENCH_SECONDS sets each segment's length (default 2 s, two rounds; one for the figures without a
target); BENCH_QUICK=1: 1 s segments, one round, and how cost grows is left out.
"""

from __future__ import annotations

# The peer's process imports this module for `bare_litestar`: it imports Litestar (and SQLAlchemy and asyncpg for the
# floor's routes) and nothing of Porchlight. Porchlight's and the benchmark's imports are inside the functions.
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from sqlalchemy import literal, select

from bench.report import QUICK, Target, record

CONNECTIONS, THREADS = 16, 1
OWNERS = 20
SITES_PER_OWNER, CAMERAS_PER_SITE, REQUESTS_PER_OWNER = 2, 3, 5
WARMUP_SECONDS = 1
NOISE = 0.10  # a ratio this share below its target is within what two runs on this machine differ by


@get("/hello")
async def hello() -> dict[str, str]:
    return {"status": "ok", "service": "bare"}


# The floor under GET /health on PostgreSQL: the same bare app reading SELECT 1 through SQLAlchemy's async engine
# (pooled, no BEGIN, as Porchlight's reads), and through asyncpg's own pool; nothing of Porchlight.
_pools: dict[str, Any] = {}


async def _open_floor_pools() -> None:
    url = os.environ.get("PORCHLIGHT_BENCH_FLOOR_URL")
    if not url:
        return
    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    _pools["sqlalchemy"] = create_async_engine(url, pool_size=20, max_overflow=0, isolation_level="AUTOCOMMIT")
    _pools["asyncpg"] = await asyncpg.create_pool(url.replace("+asyncpg", "", 1), min_size=20, max_size=20)


@get("/floor/sqlalchemy")
async def floor_sqlalchemy() -> dict[str, str]:
    async with _pools["sqlalchemy"].connect() as connection:
        await connection.execute(_SELECT_1)
    return {"status": "ok", "database": "ok"}


@get("/floor/asyncpg")
async def floor_asyncpg() -> dict[str, str]:
    async with _pools["asyncpg"].acquire() as connection:
        await connection.fetchval("SELECT 1")
    return {"status": "ok", "database": "ok"}


_SELECT_1 = select(literal(1))
bare_litestar = Litestar([hello, floor_sqlalchemy, floor_asyncpg], on_startup=[_open_floor_pools])


@dataclass(frozen=True)
class Route:
    label: str
    path: str
    signed_in: bool
    html: bool
    target_postgres: float
    target_sqlite: float


# How the cost of an owner's request list grows with their requests (it is paged: 50 at a time).
GROWTH = () if QUICK else (10, 100, 1000)

ROUTES = (
    Route("GET /health (anonymous)", "/health", signed_in=False, html=False, target_postgres=0.5, target_sqlite=0.5),
    Route("GET /api/v1/sites", "/api/v1/sites", True, False, 0.20, 0.12),
    Route("GET /api/v1/requests", "/api/v1/requests", True, False, 0.20, 0.12),
    Route("GET /api/v1/notifications", "/api/v1/notifications", True, False, 0.20, 0.12),
    Route("GET /sites (HTML page)", "/sites", True, True, 0.12, 0.08),
)
FLOORS = (  # measured on the peer's process, PostgreSQL only; no target of their own
    Route("floor: bare Litestar + SQLAlchemy SELECT 1", "/floor/sqlalchemy", False, False, 0, 0),
    Route("floor: bare Litestar + asyncpg SELECT 1", "/floor/asyncpg", False, False, 0, 0),
)


@dataclass
class Figure:
    route: Route
    database: str
    ours: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # the server's CPU time per request: steadier than a rate

    @property
    def ratio(self) -> float:
        return statistics.median(o / p for o, p in zip(self.ours, self.peer, strict=True))

    @property
    def target(self) -> float:
        return self.route.target_postgres if self.database == "PostgreSQL" else self.route.target_sqlite


_DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d "
    .. "p50_us=%d p99_us=%d\\n", summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99)))
end
"""


def _script(directory: Path, name: str, path: str, tokens: list[str], html: bool, csrf: str = "") -> Path:
    """A wrk script asking for `path`, each request with the next owner's session cookie (none without tokens) and,
    as a browser that has been there before, the CSRF cookie it was given (else each answer sets a new one)."""
    accept = "text/html" if html else "application/json"
    cookies = [f"csrftoken={csrf}"] if csrf else []
    listed = ", ".join(f'"{"; ".join([f"porchlight_session={t}", *cookies])}"' for t in tokens)
    listed = listed or (f'"{cookies[0]}"' if cookies else "")
    script = directory / f"{name}.lua"
    script.write_text(
        f"""
local cookies = {{{listed}}}
local turn = 0
request = function()
  local headers = {{["Accept"] = "{accept}", ["Accept-Encoding"] = "gzip", ["Sec-Fetch-Site"] = "same-origin"}}
  if #cookies > 0 then
    turn = turn % #cookies + 1
    headers["Cookie"] = cookies[turn]
  end
  return wrk.format("GET", "{path}", headers)
end
"""
        + _DONE_LUA
    )
    return script


def _wrk(base: str, script: Path, seconds: int) -> dict[str, float]:
    completed = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {completed.stdout}{completed.stderr}")
    figures = {k: float(v) for k, v in (part.split("=") for part in line.split()[1:])}
    errors = sum(figures[k] for k in ("status", "connect", "read", "write", "timeout"))
    if errors:
        raise RuntimeError(f"wrk saw {errors:.0f} errors on {script.name}: {line}")
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def _check(base: str, route: Route, token: str) -> str:
    """The route answers 200 with its own content when signed in (not a redirect to the sign-in page); the CSRF
    cookie it sets, if any."""
    headers = {"Accept": "text/html" if route.html else "application/json"}
    if route.signed_in:
        headers["Cookie"] = f"porchlight_session={token}"
    request = urllib.request.Request(base + route.path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        if response.status != 200 or response.url != base + route.path or len(body) < 20:
            raise RuntimeError(f"{route.path} answered {response.status} at {response.url}: {body[:200]!r}")
        cookies = response.headers.get_all("set-cookie") or []
    return next((c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("csrftoken=")), "")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _served(
    command: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str
) -> Iterator[tuple[str, int]]:
    """A server process on `port`, once `ready_path` answers (its address and process id); stopped at the end."""
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}{ready_path}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer: {log_path.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _peer(var_dir: Path) -> Iterator[tuple[str, int]]:
    """Bare Litestar under uvicorn with `porchlight serve`'s options (one process, proxy headers, info log); its
    address and process id."""
    from bench.device_heartbeats import free_port, postgres_reachable, server_url

    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.request_paths:bare_litestar", "--host", "127.0.0.1",
               "--port", str(port), "--proxy-headers", "--log-level", "info"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if postgres_reachable():
        env["PORCHLIGHT_BENCH_FLOOR_URL"] = server_url()
    with _served(command, env, var_dir / "peer.log", port, "/hello") as served:
        yield served


def measure_database(
    database: str, url: str, var_dir: Path, peer: tuple[str, int], seconds: int, rounds: int
) -> list[Figure]:
    import asyncio

    from bench.device_heartbeats import free_port, porchlight_command, server_env
    from bench.serve_workers import seed_owners

    tokens = asyncio.run(
        seed_owners(
            url, var_dir, OWNERS, sites_per_owner=SITES_PER_OWNER, cameras_per_site=CAMERAS_PER_SITE,
            area_requests=REQUESTS_PER_OWNER,
        )
    )  # fmt: skip
    growth = {
        count: asyncio.run(seed_owners(url, var_dir, 1, area_requests=count, label=f"g{count}"))
        for count in GROWTH
    }  # fmt: skip
    routes = [*ROUTES, *(Route(f"GET /api/v1/requests, {n:,} requests", "/api/v1/requests", True, False, 0, 0)
                         for n in GROWTH)]  # fmt: skip
    owners_of = [tokens] * len(ROUTES) + list(growth.values())
    peer_base, peer_pid = peer
    port = free_port()
    command = [porchlight_command(), "serve", "--port", str(port), "--workers", "1"]
    peer_script = _script(var_dir, "peer", "/hello", [], html=False)
    figures = []
    with _served(command, server_env(url, var_dir, port), var_dir / "serve.log", port, "/health") as (base, pid):
        scripts = []
        for n, (route, route_tokens) in enumerate(zip(routes, owners_of, strict=True)):
            csrf = _check(base, route, route_tokens[0])
            owners = route_tokens if route.signed_in else []
            scripts.append(_script(var_dir, f"route{n}", route.path, owners, route.html, csrf))
            _wrk(base, scripts[-1], WARMUP_SECONDS)
        _wrk(peer_base, peer_script, WARMUP_SECONDS)
        floors = FLOORS if database == "PostgreSQL" else ()
        floor_scripts = [_script(var_dir, f"floor{n}", r.path, [], html=False) for n, r in enumerate(floors)]
        for floor_script in floor_scripts:
            _wrk(peer_base, floor_script, WARMUP_SECONDS)
        figures = [Figure(route, database) for route in (*routes, *floors)]
        for round_ in range(rounds):
            for figure, script in zip(figures, [*scripts, *floor_scripts], strict=True):
                if round_ and not figure.target:
                    continue  # how cost grows and the floors have no target: one pair is enough
                server, server_pid = (peer_base, peer_pid) if figure.route in floors else (base, pid)
                cpu_before = _cpu_seconds(server_pid)
                ours = _wrk(server, script, seconds)
                figure.cpu_ms.append(1000 * (_cpu_seconds(server_pid) - cpu_before) / ours["requests"])
                figure.ours.append(ours["rate"])
                figure.p99_ms.append(ours["p99_us"] / 1000)
                figure.peer.append(_wrk(peer_base, peer_script, seconds)["rate"])
    return figures


def _report(figures: list[Figure]) -> None:
    print(f"  {'figure':<44} {'ours req/s':>10} {'peer req/s':>10} {'ratio':>6} {'target':>7}  {'verdict':<7} "
          f"{'CPU ms/req':>10}")  # fmt: skip
    for f in figures:
        if not f.target:
            verdict = "-"  # how cost grows: no target of its own
        elif f.ratio >= f.target:
            verdict = "met"
        elif f.ratio >= f.target * (1 - NOISE):
            verdict = "noise"
        else:
            verdict = "MISSED"
        label = f"{f.route.label}, {f.database}"
        print(f"  {label:<44} {statistics.median(f.ours):>10,.0f} {statistics.median(f.peer):>10,.0f} "
              f"{f.ratio:>6.3f} {f.target:>7.2f}  {verdict:<7} {statistics.median(f.cpu_ms):>10.2f}")  # fmt: skip
        record("Request paths (1 worker, wrk)", label, f"{statistics.median(f.ours):,.0f} req/s",
               peer=f"bare Litestar {statistics.median(f.peer):,.0f}/s", ratio=f.ratio,
               target=Target(f.target, noise=NOISE) if f.target else None)  # fmt: skip


def main() -> None:
    seconds = int(os.environ.get("PORCHLIGHT_BENCH_SECONDS", "1" if QUICK else "2"))
    rounds = 1 if QUICK else 2
    print(f"\nRequest paths: `porchlight serve` (1 worker) beside bare Litestar (1 worker), wrk -t{THREADS} "
          f"-c{CONNECTIONS}, {rounds} x {seconds} s per figure alternating with the peer; signed in as one of "
          f"{OWNERS} owners ({SITES_PER_OWNER} sites x {CAMERAS_PER_SITE} cameras, {REQUESTS_PER_OWNER} requests "
          f"and notifications each)")  # fmt: skip
    if shutil.which("wrk") is None:
        print("  (skipped: wrk is not installed; apt-get install -y wrk)")
        return
    from bench.device_heartbeats import postgres_reachable, scratch_database

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp, _peer(Path(tmp)) as peer:
        pg_dir, sqlite_dir = Path(tmp) / "pg", Path(tmp) / "sqlite"
        pg_dir.mkdir()
        sqlite_dir.mkdir()
        if postgres_reachable():
            with scratch_database("paths", pg_dir) as url:
                figures += measure_database("PostgreSQL", url, pg_dir, peer, seconds, rounds)
        url = f"sqlite+aiosqlite:///{sqlite_dir / 'porchlight.db'}"
        from bench.device_heartbeats import porchlight_command, server_env

        subprocess.run([porchlight_command(), "migrate"], env=server_env(url, sqlite_dir), check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        figures += measure_database("SQLite", url, sqlite_dir, peer, seconds, rounds)
    _report(figures)


if __name__ == "__main__":
    main()
