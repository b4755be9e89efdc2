"""Uploading a 1 GiB clip through the API (tus PATCH) to a real server on loopback: throughput, and the server's
peak memory growth while it receives. Targets: at least 150 MB/s, under 64 MB of growth. SQLite.

The server is `uvicorn backend.app:create_app_from_env` in its own process (as `make run` serves), on a scratch
database with an owner whose accepted request takes the clip; its resident memory is sampled every 5 ms from
/proc. The clip is sent twice: as one PATCH (what tus-js-client does by default) and in the 8 MiB pieces the PWA
sends. The server's SHA-256 of the clip is checked against the one computed here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import make_engine, migrate
from backend.registry import service as registry
from backend.registry.schemas import CameraIn, SiteIn
from backend.requests import evidence
from backend.requests import service as requests
from backend.requests.models import Answer, RequestType
from backend.requests.schemas import AnswerIn, AreaRequestIn
from backend.settings import PROJECT_ROOT, Settings
from bench.report import QUICK, Target, record

CLIP_BYTES = 128 * 1024**2 if QUICK else 1024**3
BLOCK = os.urandom(8 * 1024 * 1024)  # the clip is this block repeated: the client costs nothing to make it
PIECE = 8 * 1024 * 1024
TARGET_MB_PER_S = 150
TARGET_GROWTH_MB = 64
BENCHMARK = f"Evidence upload ({CLIP_BYTES / 2**20:,.0f} MiB, tus)"  # its name in the summary table


async def _accepted_request(settings: Settings) -> tuple[str, str]:
    """An owner with an accepted request; returns the request id and the owner's session token."""
    engine = make_engine(settings)
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine, expire_on_commit=False) as db:
        owner = await accounts.create_user(
            db, email="owner@bench.example", password=None, display_name="Owner", roles=[Role.OWNER]
        )
        detective = await accounts.create_user(
            db, email="det@bench.example", password=None, display_name="Det", roles=[Role.INVESTIGATOR],
            agency_name="Bench PD",
        )  # fmt: skip
        site = await registry.create_site(
            db, owner.id,
            SiteIn(name="Shop", address="1 Main St", latitude=43.04, longitude=-87.91, kind="business",
                   contact_phone="555-0100"),
        )  # fmt: skip
        camera = await registry.create_camera(
            db, owner.id, site.id,
            CameraIn(name="Door", bearing_deg=90, placement="outdoor", recorder="nvr_dvr", retention_days=30),
        )  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        (sent,) = await requests.send_area_request(
            db, detective,
            AreaRequestIn(camera_ids=[camera.id], case_number="BENCH-1", request_type=RequestType.VOLUNTARY,
                          incident_latitude=43.04, incident_longitude=-87.91, window_start=now - dt.timedelta(hours=2),
                          window_end=now - dt.timedelta(hours=1)),
            ip="127.0.0.1",
        )  # fmt: skip
        await requests.answer(db, owner.id, sent.id, AnswerIn(answer=Answer.ACCEPT))
        token = await accounts.start_session(db, owner, days=1, user_agent="bench", ip="127.0.0.1")
    await engine.dispose()
    return str(sent.id), token


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _PeakMemory:
    """Samples a process's resident memory until stopped; `growth_mb` is the peak over the starting value."""

    def __init__(self, pid: int) -> None:
        self.pid, self.start_kb, self.peak_kb = pid, _rss_kb(pid), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _rss_kb(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(0, self.peak_kb - self.start_kb) / 1024


class _Phone:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as response:
            cookie = response.headers["set-cookie"]
        self.csrf = cookie.split("csrftoken=", 1)[1].split(";", 1)[0]

    def headers(self, **extra: str) -> dict[str, str]:
        cookies = f"porchlight_session={self.token}; csrftoken={self.csrf}"
        return {"Tus-Resumable": "1.0.0", "Cookie": cookies, "x-csrftoken": self.csrf, **extra}

    def call(self, method: str, path: str, headers: dict[str, str], body: object = None) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response


def _clip(start: int, end: int):
    """Bytes start..end of the clip (the block repeated), in blocks."""
    position = start
    while position < end:
        offset = position % len(BLOCK)
        part = BLOCK[offset : offset + min(len(BLOCK) - offset, end - position)]
        yield part
        position += len(part)


def _send(phone: _Phone, request_id: str, piece: int) -> str:
    created = phone.call(
        "POST", f"/api/v1/requests/{request_id}/uploads",
        phone.headers(**{"Upload-Length": str(CLIP_BYTES), "Upload-Metadata": "filename Y2xpcC5tcDQ="}),
    )  # fmt: skip
    assert created.status == 201, created.status
    location = created.headers["Location"]
    for start in range(0, CLIP_BYTES, piece):
        end = min(start + piece, CLIP_BYTES)
        headers = phone.headers(**{
            "Upload-Offset": str(start), "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(end - start),
        })  # fmt: skip
        response = phone.call("PATCH", location, headers, _clip(start, end))
        assert response.status == 204, response.status
    return location.rsplit("/", 1)[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    print(f"\n== Evidence upload: a {CLIP_BYTES / 2**20:,.0f} MiB clip through the tus API to a real server on "
          "loopback (SQLite)")  # fmt: skip
    expected = hashlib.sha256()
    for part in _clip(0, CLIP_BYTES):
        expected.update(part)
    with tempfile.TemporaryDirectory() as scratch:
        var_dir = Path(scratch)
        url = f"sqlite+aiosqlite:///{var_dir / 'bench.db'}"
        migrate(url)
        settings = Settings(database_url=url, secret_key="bench", var_dir=var_dir)
        request_id, token = asyncio.run(_accepted_request(settings))
        port = _free_port()
        env = {**os.environ, "PORCHLIGHT_DATABASE_URL": url, "PORCHLIGHT_VAR_DIR": str(var_dir),
               "PORCHLIGHT_SECRET_KEY": "bench", "PORCHLIGHT_SHOW_DEMO_LOGINS": "0"}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "backend.app:create_app_from_env", "--port", str(port),
             "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    phone = _Phone(port, token)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for label, piece in (("one PATCH", CLIP_BYTES), ("8 MiB pieces (as the PWA sends)", PIECE)):
                with _PeakMemory(server.pid) as memory:
                    started = time.perf_counter()
                    clip_id = _send(phone, request_id, piece)
                    seconds = time.perf_counter() - started
                stored = evidence.ClipStore(var_dir / "evidence").final(uuid.UUID(clip_id))
                digest = hashlib.sha256()
                with stored.open("rb") as file:
                    while block := file.read(1 << 20):
                        digest.update(block)
                assert digest.hexdigest() == expected.hexdigest(), "the stored clip differs from the one sent"
                speed = CLIP_BYTES / seconds / 1e6
                print(
                    f"  {label:<33} {seconds:6.2f} s = {speed:6.0f} MB/s (target >= {TARGET_MB_PER_S}: "
                    f"{'met' if speed >= TARGET_MB_PER_S else 'MISSED'}); server memory growth "
                    f"{memory.growth_mb:5.1f} MB (target < {TARGET_GROWTH_MB}: "
                    f"{'met' if memory.growth_mb < TARGET_GROWTH_MB else 'MISSED'}); SHA-256 matches"
                )
                record(BENCHMARK, f"{label}: MB/s", f"{speed:,.0f} MB/s", measured=speed,
                       target=Target(TARGET_MB_PER_S))  # fmt: skip
                record(BENCHMARK, f"{label}: server memory growth", f"{memory.growth_mb:.1f} MB",
                       measured=memory.growth_mb, target=Target(TARGET_GROWTH_MB, higher_is_better=False))  # fmt: skip
                stored.chmod(0o600)
                stored.unlink()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
