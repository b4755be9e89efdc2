"""The edge agent (`porchlight-edge`) as its own process, for tests that drive it against a live server."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

AGENT = Path(sys.executable).parent / "porchlight-edge"
SIMULATED_CAMERA = '\n[[cameras]]\nkey = "front"\nname = "Front door"\nsimulate = "healthy"\n'


class Agent:
    """A porchlight-edge process whose output lines the test reads as they come."""

    def __init__(self, *args: str) -> None:
        if not AGENT.exists():
            pytest.fail(f"{AGENT} is missing: make installs the edge agent into the virtual environment")
        self.process = subprocess.Popen(
            [str(AGENT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if wanted(line):
                return line
        raise AssertionError(f"no such line within {timeout} s; the agent printed: {self.seen}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=10)


def start_pairing(server: str, config: Path) -> tuple[Agent, str]:
    """`porchlight-edge pair` running, and the code it shows (for the owner to approve in the app)."""
    pairing = Agent("pair", "--server", server, "--config", str(config))
    link = pairing.wait_for_line(lambda line: "/devices/add?code=" in line, timeout=20)
    code = re.search(r"code=([A-Z]{4}-[A-Z]{4})", link)
    assert code is not None, link
    return pairing, code.group(1)
