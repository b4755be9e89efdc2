"""The run loop: camera readers in their threads, heartbeats, and the desired-state long-poll, side by side;
live video (WHIP, `edge.live`) while the desired state shares cameras; panic-button presses reported as events.

The server may be down for hours; the agent keeps going with backoff and says so in one line per kind of
failure. Only a revoked credential (401) stops it: then it exits with EXIT_REVOKED and says how to pair again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from edge import __version__
from edge.buttons import watch_gpio, watch_keyboard
from edge.cameras import Camera
from edge.client import (
    Backoff,
    CredentialRevoked,
    DeviceAPIError,
    DeviceClient,
    RequestRejected,
    ServerUnavailable,
    iso,
    send_event_with_retries,
    utc_now,
)
from edge.config import EdgeConfig
from edge.live import LiveSharing, default_live_backoff, parse_share, until_text

log = logging.getLogger("edge")

EXIT_REVOKED = 3
DEFAULT_HEARTBEAT_INTERVAL_S = 30.0


def build_heartbeat_body(
    *, uptime_s: float, disk_free_bytes: int, reported_version: int, cameras: Sequence[Camera]
) -> dict[str, Any]:
    """The heartbeat body the device API documents (the simulator sends the same)."""
    return {
        "agent_version": __version__,
        "uptime_s": int(uptime_s),
        "disk_free_bytes": int(disk_free_bytes),
        "sent_at": iso(utc_now()),
        "reported_version": reported_version,
        "cameras": [camera.snapshot().as_json() for camera in cameras],
    }


def revoked_message(server: str) -> str:
    return (
        "This device was removed from Porchlight (its credential no longer works). "
        f"Pair it again: porchlight-edge pair --server {server}"
    )


class Agent:
    def __init__(
        self,
        config: EdgeConfig,
        cameras: Sequence[Camera],
        *,
        config_path: Path,
        interval_override_s: float | None = None,
        backoff_factory: Callable[[], Backoff] = lambda: Backoff(base_s=1.0, cap_s=60.0),
        live_backoff_factory: Callable[[], Backoff] = default_live_backoff,
        http: httpx.AsyncClient | None = None,
        panic_key: bool = False,
        panic_gpio: Path | None = None,
    ) -> None:
        self.config = config
        self.cameras = list(cameras)
        self.config_path = config_path
        self.interval_override_s = interval_override_s
        self.heartbeat_interval_s = config.heartbeat_interval_s or DEFAULT_HEARTBEAT_INTERVAL_S
        self.backoff_factory = backoff_factory
        self.device_name: str | None = None
        self.reported_version = 0
        self.started = time.monotonic()
        self.exit_code = 0
        self.stopping = asyncio.Event()
        self.interval_changed = asyncio.Event()
        self.live_backoff_factory = live_backoff_factory
        self.panic_key = panic_key
        self.panic_gpio = panic_gpio
        self.client: DeviceClient | None = None
        self.live: LiveSharing | None = None
        self._http = http
        self._last_failure_kind: dict[str, str | None] = {"heartbeat": None, "desired": None}
        self._alerts: set[asyncio.Task[None]] = set()

    # --- what the agent reports ---------------------------------------------------------------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        return build_heartbeat_body(
            uptime_s=time.monotonic() - self.started,
            disk_free_bytes=self._disk_free_bytes(),
            reported_version=self.reported_version,
            cameras=self.cameras,
        )

    def _disk_free_bytes(self) -> int:
        directory = self.config_path.parent
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        return shutil.disk_usage(directory).free

    # --- running --------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> int:
        """Run until stopped (signal or `stop()`) or the credential is revoked; returns the exit code."""
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal_number, self.stop)
        for camera in self.cameras:
            camera.start()
        owns_http = self._http is None
        http = self._http or httpx.AsyncClient()
        self.client = client = DeviceClient(self.config.server, self.config.credential, http)
        self.live = LiveSharing(
            client, self.cameras, on_revoked=self._revoked, backoff_factory=self.live_backoff_factory
        )
        log.info(
            "porchlight-edge %s: device %s, %d camera(s), server %s",
            __version__,
            self.config.device_id,
            len(self.cameras),
            self.config.server,
        )
        tasks = [
            asyncio.create_task(self._heartbeat_loop(client), name="heartbeat"),
            asyncio.create_task(self._desired_loop(client), name="desired"),
        ]
        if self.panic_key:
            if sys.stdin is not None and sys.stdin.isatty():
                tasks.append(asyncio.create_task(watch_keyboard(self.press_button), name="panic-key"))
                log.info("Panic key: press Enter here to report a button press")
            else:
                log.warning("--panic-key needs a terminal (standard input is not one); ignored")
        if self.panic_gpio is not None:
            tasks.append(asyncio.create_task(watch_gpio(self.panic_gpio, self.press_button), name="panic-gpio"))
            log.info("Panic button: watching %s", self.panic_gpio)
        try:
            await self.stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.live.close(), 10)
            if self._alerts:  # a panic-button press being reported gets a few seconds to get through
                await asyncio.wait(set(self._alerts), timeout=5)
            for task in self._alerts:
                task.cancel()
            await asyncio.gather(*self._alerts, return_exceptions=True)
            for camera in self.cameras:
                camera.stop()
            for camera in self.cameras:
                await asyncio.to_thread(camera.join, 1.0)
            if owns_http:
                await http.aclose()
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signal_number)
        if self.exit_code == 0:
            log.info("Stopped.")
        return self.exit_code

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the agent stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def _current_interval(self) -> float:
        return self.interval_override_s or self.heartbeat_interval_s

    def _failed(self, loop_name: str, error: DeviceAPIError, retry_in_s: float) -> None:
        """One short line per kind of failure, not one per attempt."""
        if self._last_failure_kind[loop_name] != error.kind:
            self._last_failure_kind[loop_name] = error.kind
            log.warning("%s failed, trying again with backoff: %s", loop_name.capitalize(), error.message)
        log.debug("%s failed (%s); next try in %.1f s", loop_name, error.kind, retry_in_s)

    def _succeeded(self, loop_name: str) -> None:
        if self._last_failure_kind[loop_name] is not None:
            log.info("%s: the server answers again", loop_name.capitalize())
            self._last_failure_kind[loop_name] = None

    def _revoked(self, error: CredentialRevoked) -> None:
        if self.exit_code != EXIT_REVOKED:
            log.error("%s", revoked_message(self.config.server))
            log.debug("server said: %s", error.message)
        self.exit_code = EXIT_REVOKED
        self.stop()

    async def _heartbeat_loop(self, client: DeviceClient) -> None:
        backoff = self.backoff_factory()
        while not self.stopping.is_set():
            body = self.heartbeat_body()
            sent = time.monotonic()
            try:
                reply = await client.send_heartbeat(body)
            except CredentialRevoked as error:
                self._revoked(error)
                return
            except ServerUnavailable as error:
                delay = max(backoff.next_delay(), error.retry_after_s or 0)
                self._failed("heartbeat", error, delay)
                await self._sleep(delay)
                continue
            except RequestRejected as error:
                log.warning("Heartbeat refused: %s", error.message)
                await self._sleep(self._current_interval())
                continue
            backoff.reset()
            self._succeeded("heartbeat")
            round_trip = time.monotonic() - sent
            if reply.heartbeat_interval_s:
                self.heartbeat_interval_s = reply.heartbeat_interval_s
            if reply.desired is not None:
                self.apply_desired(reply.desired)
            arriving = sum(1 for camera in body["cameras"] if camera["frames_arriving"])
            log.info(
                "Heartbeat sent: %d/%d camera(s) sending frames; clock offset %s",
                arriving,
                len(body["cameras"]),
                _clock_offset_text(reply.server_time, round_trip),
            )
            self.interval_changed.clear()
            # A new interval from the desired state takes effect now, not after the old one ran out.
            waiter = asyncio.create_task(self.interval_changed.wait())
            await self._sleep_or(self._current_interval(), waiter)

    async def _sleep_or(self, seconds: float, waiter: asyncio.Task[Any]) -> None:
        stopper = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()

    async def _desired_loop(self, client: DeviceClient) -> None:
        backoff = self.backoff_factory()
        while not self.stopping.is_set():
            try:
                document = await client.wait_for_desired(self.reported_version)
            except CredentialRevoked as error:
                self._revoked(error)
                return
            except ServerUnavailable as error:
                delay = max(backoff.next_delay(), error.retry_after_s or 0)
                self._failed("desired", error, delay)
                await self._sleep(delay)
                continue
            except RequestRejected as error:
                delay = backoff.next_delay()
                log.warning("Desired state refused: %s", error.message)
                await self._sleep(delay)
                continue
            backoff.reset()
            self._succeeded("desired")
            if document is not None:
                self.apply_desired(document)

    def apply_desired(self, document: dict[str, Any]) -> None:
        """Take in a desired-state document the server sent (long-poll or heartbeat reply)."""
        version = document.get("version")
        if not isinstance(version, int) or version == self.reported_version:
            return
        self.reported_version = version
        changes = []
        name = document.get("device_name")
        if isinstance(name, str) and name:
            self.device_name = name
            changes.append(f"name {name!r}")
        interval = document.get("heartbeat_interval_s")
        if isinstance(interval, int | float) and interval > 0:
            if interval != self.heartbeat_interval_s:
                self.heartbeat_interval_s = float(interval)
                self.interval_changed.set()
            changes.append(f"heartbeat every {interval:g} s")
        cameras = document.get("cameras")
        if isinstance(cameras, list):
            changes.append(f"{len(cameras)} camera(s)")
        share = parse_share(document.get("share"))
        if share is None:
            changes.append("not sharing")
        else:
            changes.append(f"sharing {len(share.cameras)} camera(s) live {until_text(share.until)}")
        log.info("Desired state version %d: %s", version, ", ".join(changes))
        if self.live is not None:
            self.live.apply(document.get("share"))

    # --- the panic button -----------------------------------------------------------------------------------------

    def press_button(self, source: str) -> None:
        """A panic-button press (`source` says which button): reported as a button_press event, in the
        background, trying again while the server is unavailable."""
        occurred_at = utc_now()  # when it was pressed, not when the network let it through
        log.info("Panic button pressed (%s): reporting it", source)
        task = asyncio.create_task(self._report_button_press(source, occurred_at))
        self._alerts.add(task)
        task.add_done_callback(self._alerts.discard)

    async def _report_button_press(self, source: str, occurred_at: datetime) -> None:
        if self.client is None:
            return
        try:
            await send_event_with_retries(self.client, "button_press", source, occurred_at)
        except CredentialRevoked as error:
            self._revoked(error)
        except DeviceAPIError as error:
            log.error("Panic button press NOT reported: %s", error.message)
        else:
            log.info("Panic button press reported to Porchlight")


def _clock_offset_text(server_time: datetime | None, round_trip_s: float) -> str:
    """How far the box's clock is from the server's, taking the server's time as read half-way through."""
    if server_time is None:
        return "unknown"
    offset = (server_time - utc_now()).total_seconds() + round_trip_s / 2
    return f"{offset:+.2f} s (server {'ahead' if offset >= 0 else 'behind'})"
