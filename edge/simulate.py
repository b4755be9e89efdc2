"""`porchlight-edge simulate`: many fake devices from one process, for demos and load.

Devices are paired through the public HTTP APIs only: the simulator signs in as the owner (session + CSRF, as
the PWA does), and for each device asks for a code (RFC 8628), approves it as the owner, and collects the
credential. Credentials are kept in a state file (0600) so a re-run reuses them.

Then each device sends a heartbeat every interval, the devices spread evenly over it. To look like real life,
about 5% of cameras are without frames at any moment (outages of a minute) and about 2% of devices go silent
for a few minutes now and then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from edge.agent import build_heartbeat_body
from edge.cameras import SimulatedCamera
from edge.client import (
    CredentialRevoked,
    DeviceAPIError,
    DeviceClient,
    PairingFailed,
    poll_for_token,
    start_device_authorization,
)
from edge.config import write_private_file

log = logging.getLogger("edge.simulate")

PAIRING_CONCURRENCY = 8
SUMMARY_EVERY_S = 10.0
CAMERA_OUTAGE_S = 60.0
CAMERA_OUTAGE_SHARE = 0.05  # of cameras without frames at any moment
DEVICE_SILENCE_S = (120.0, 300.0)
DEVICE_SILENCE_SHARE = 0.02  # of devices silent at any moment


class SimulationError(Exception):
    """The simulation cannot start (sign-in refused, pairing refused, unusable state file)."""


@dataclass
class SimulatedDevice:
    name: str
    device_id: str
    credential: str
    cameras: list[SimulatedCamera] = field(default_factory=list)
    disk_free_bytes: int = 0
    silent_until: float = 0.0
    removed: bool = False


@dataclass
class Statistics:
    sent: int = 0
    failed: int = 0
    window_latencies_s: list[float] = field(default_factory=list)
    window_sent: int = 0
    window_failed: int = 0
    reported_failure_kinds: set[str] = field(default_factory=set)
    window_started: float = field(default_factory=time.monotonic)

    def summary(self, devices: list[SimulatedDevice], now: float) -> str:
        latencies = sorted(self.window_latencies_s)
        p50 = _percentile(latencies, 0.50)
        p99 = _percentile(latencies, 0.99)
        silent = sum(1 for device in devices if device.silent_until > now)
        removed = sum(1 for device in devices if device.removed)
        line = (
            f"{len(devices)} devices ({silent} silent{f', {removed} removed' if removed else ''}) | "
            f"last {now - self.window_started:.0f} s: {self.window_sent} heartbeats, {self.window_failed} failed, "
            f"p50 {p50}, p99 {p99} | total {self.sent} sent, {self.failed} failed"
        )
        self.window_latencies_s.clear()
        self.window_sent = self.window_failed = 0
        self.window_started = now
        return line


def _percentile(sorted_values: list[float], fraction: float) -> str:
    if not sorted_values:
        return "-"
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return f"{sorted_values[index] * 1000:.0f} ms"


# --- state file ------------------------------------------------------------------------------------------------


def load_state(path: Path, server: str, site_id: str) -> list[dict[str, str]]:
    """Credentials of devices paired by an earlier run for this server and site."""
    if not path.exists():
        return []
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SimulationError(f"cannot read the state file {path} ({error}); remove it to pair anew") from None
    if state.get("server") != server or state.get("site_id") != site_id:
        raise SimulationError(
            f"the state file {path} holds devices of {state.get('server')} site {state.get('site_id')}; "
            "use --state with another file for this server or site"
        )
    return list(state.get("devices", []))


def save_state(path: Path, server: str, site_id: str, devices: list[dict[str, str]]) -> None:
    write_private_file(path, json.dumps({"server": server, "site_id": site_id, "devices": devices}, indent=1) + "\n")


# --- pairing as the owner --------------------------------------------------------------------------------------


class OwnerSession:
    """The owner's signed-in session, used only to approve the simulated devices' codes."""

    def __init__(self, server: str, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http

    def _csrf_headers(self) -> dict[str, str]:
        return {"x-csrftoken": self.http.cookies.get("csrftoken") or ""}

    async def sign_in(self, email: str, password: str) -> None:
        try:
            await self.http.get(f"{self.server}/health")  # sets the csrftoken cookie
            response = await self.http.post(
                f"{self.server}/api/v1/auth/login",
                json={"email": email, "password": password},
                headers=self._csrf_headers(),
            )
        except httpx.TransportError as error:
            raise SimulationError(f"cannot reach {self.server} ({error or type(error).__name__})") from None
        if response.status_code not in (200, 201):
            raise SimulationError(f"signing in as {email} was refused: {_detail(response)}")

    async def approve(self, user_code: str, name: str, site_id: str) -> None:
        response = await self.http.post(
            f"{self.server}/api/v1/devices/pair",
            json={"user_code": user_code, "name": name, "site_id": site_id},
            headers=self._csrf_headers(),
        )
        if response.status_code not in (200, 201):
            raise SimulationError(f"approving {name} was refused: {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("detail"):
        return f"{response.status_code} {body['detail']}"
    return f"HTTP {response.status_code}"


async def pair_devices(
    server: str, email: str, password: str, site_id: str, first_number: int, count: int, http: httpx.AsyncClient
) -> list[dict[str, str]]:
    async with httpx.AsyncClient(timeout=10.0) as owner_http:
        owner = OwnerSession(server, owner_http)
        await owner.sign_in(email, password)
        limit = asyncio.Semaphore(PAIRING_CONCURRENCY)

        async def pair_one(number: int) -> dict[str, str]:
            name = f"Simulated core {number:03d}"
            async with limit:
                try:
                    authorization = await start_device_authorization(http, server)
                    await owner.approve(authorization.user_code, name, site_id)
                    # Approved already: ask for the credential at once instead of after the first interval.
                    paired = await poll_for_token(http, server, authorization, wait_first=False)
                except (DeviceAPIError, PairingFailed) as error:
                    raise SimulationError(f"pairing {name} failed: {error}") from None
            return {"name": name, "device_id": paired.device_id, "credential": paired.access_token}

        return list(await asyncio.gather(*(pair_one(first_number + index) for index in range(count))))


# --- heartbeats ------------------------------------------------------------------------------------------------


async def _device_loop(
    device: SimulatedDevice,
    client: DeviceClient,
    start_after_s: float,
    interval_s: float,
    statistics: Statistics,
    rng: random.Random,
) -> None:
    started = time.monotonic()
    await asyncio.sleep(start_after_s)
    next_at = time.monotonic()
    # Chance per heartbeat of going silent, so that DEVICE_SILENCE_SHARE of devices are silent at any moment.
    mean_silence_s = sum(DEVICE_SILENCE_S) / 2
    silence_chance = min(1.0, DEVICE_SILENCE_SHARE * interval_s / mean_silence_s)
    while not device.removed:
        now = time.monotonic()
        if device.silent_until <= now and rng.random() < silence_chance:
            device.silent_until = now + rng.uniform(*DEVICE_SILENCE_S)
        if device.silent_until <= now:
            body = build_heartbeat_body(
                uptime_s=now - started,
                disk_free_bytes=device.disk_free_bytes,
                reported_version=0,
                cameras=device.cameras,
            )
            sent = time.monotonic()
            try:
                await client.send_heartbeat(body)
            except CredentialRevoked:
                device.removed = True
                log.warning("%s was removed from Porchlight (401); it stops", device.name)
            except DeviceAPIError as error:
                statistics.failed += 1
                statistics.window_failed += 1
                if error.kind not in statistics.reported_failure_kinds:
                    statistics.reported_failure_kinds.add(error.kind)
                    log.warning("Heartbeat failed: %s (further failures of this kind are only counted)", error.message)
            else:
                statistics.sent += 1
                statistics.window_sent += 1
                statistics.window_latencies_s.append(time.monotonic() - sent)
        next_at += interval_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def run_simulation(
    *,
    server: str,
    devices: int,
    cameras_per_device: int,
    email: str,
    password: str,
    site_id: str,
    state_path: Path,
    interval_s: float = 30.0,
    duration_s: float | None = None,
    summary_every_s: float = SUMMARY_EVERY_S,
    rng: random.Random | None = None,
) -> Statistics:
    server = server.rstrip("/")
    rng = rng or random.Random()
    limits = httpx.Limits(max_connections=min(max(devices, 1), 100), max_keepalive_connections=100)
    statistics = Statistics()
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as http:
        known = load_state(state_path, server, site_id)
        if len(known) < devices:
            missing = devices - len(known)
            log.info("Pairing %d simulated device(s) with %s as %s…", missing, server, email)
            known += await pair_devices(server, email, password, site_id, len(known) + 1, missing, http)
            save_state(state_path, server, site_id, known)
            log.info("Paired; credentials kept in %s", state_path)
        fleet = [
            SimulatedDevice(
                name=entry["name"],
                device_id=entry["device_id"],
                credential=entry["credential"],
                cameras=[
                    SimulatedCamera(
                        f"camera-{number}",
                        f"Camera {number}",
                        "flaky",
                        outage_every_s=CAMERA_OUTAGE_S / CAMERA_OUTAGE_SHARE,
                        outage_s=CAMERA_OUTAGE_S,
                        rng=rng,
                    )
                    for number in range(1, cameras_per_device + 1)
                ],
                disk_free_bytes=rng.randrange(20, 500) * 1_000_000_000,
            )
            for entry in known[:devices]
        ]
        log.info(
            "%d device(s) x %d camera(s), a heartbeat each every %g s; summary every %g s",
            len(fleet),
            cameras_per_device,
            interval_s,
            summary_every_s,
        )
        statistics.window_started = time.monotonic()
        tasks = [
            asyncio.create_task(
                _device_loop(
                    device,
                    DeviceClient(server, device.credential, http),
                    interval_s * index / max(len(fleet), 1),
                    interval_s,
                    statistics,
                    rng,
                )
            )
            for index, device in enumerate(fleet)
        ]

        async def summarise() -> None:
            while True:
                await asyncio.sleep(summary_every_s)
                log.info("%s", statistics.summary(fleet, time.monotonic()))

        tasks.append(asyncio.create_task(summarise()))
        try:
            await asyncio.wait(tasks, timeout=duration_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        log.info("%s", statistics.summary(fleet, time.monotonic()))
    return statistics
