"""A real Porchlight server in a subprocess (uvicorn, the app factory), for tests that need one over HTTP: the
browser tests and the edge agent's end-to-end tests."""

from __future__ import annotations

import os
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


def free_port() -> int:
    with socket.socket() as probe:
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
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
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
