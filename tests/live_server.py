"""A real Porchlight server in a subprocess (uvicorn, the app factory), for tests that need one over HTTP: the
browser tests and the edge agent's end-to-end tests."""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.settings import PROJECT_ROOT

SERVER_START_SECONDS = 30
# Long-polls and other requests still open when the test ends are cancelled after this, then the app shuts down.
SERVER_GRACEFUL_STOP_SECONDS = 1

# Ports for servers the tests start: a block per pytest-xdist worker, below the kernel's ephemeral range, so that
# neither another worker nor an outgoing connection takes one between the choice and the server's bind.
FIRST_PORT = 20_000
PORTS_PER_WORKER = 500
_port_offsets = itertools.count(random.randrange(PORTS_PER_WORKER))


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on, for a server a test starts (or a camera it expects to be down)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    first = FIRST_PORT + worker * PORTS_PER_WORKER
    if first + PORTS_PER_WORKER <= _ephemeral_ports_start():
        for _ in range(PORTS_PER_WORKER):
            port = first + next(_port_offsets) % PORTS_PER_WORKER
            if _is_free(port):
                return port
    with socket.socket() as probe:  # no room below the ephemeral range: any port the kernel gives
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health within {SERVER_START_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running_server(database_url: str, var_dir: Path, **environment: str) -> Iterator[str]:
    """Serve the app on a free port of 127.0.0.1 on an already migrated database; yields its base URL. Extra
    PORCHLIGHT_* settings come as keyword arguments. Its log is var_dir/server.log."""
    port = free_port()
    env = {
        **os.environ,
        "PORCHLIGHT_DATABASE_URL": database_url,
        "PORCHLIGHT_VAR_DIR": str(var_dir),
        "PORCHLIGHT_SHOW_DEMO_LOGINS": "0",
        "PORCHLIGHT_SECRET_KEY": "test-secret-key-not-for-production",
        **environment,
    }
    log = var_dir / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "backend.app:create_app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--timeout-graceful-shutdown", str(SERVER_GRACEFUL_STOP_SECONDS)],
            cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
