"""Camera health: RTSP cameras read with PyAV (packets only, never decoded), and simulated cameras.

Each camera answers `snapshot()` with a `CameraHealth`: are frames arriving (a video packet in the last 5 s),
frames per second and bitrate over a sliding window, resolution, codec, the last frame's time and, when
something is wrong, an error a person understands. A camera that cannot be read never stops the agent.
"""

from __future__ import annotations

import errno
import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from edge.client import Backoff, iso
from edge.config import CameraConfig

# A camera whose last video packet is older than this is not sending frames.
STALE_AFTER_S = 5.0
WINDOW_S = 5.0


@dataclass(frozen=True)
class CameraHealth:
    key: str
    name: str
    frames_arriving: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    bitrate_bps: int | None = None
    last_frame_at: datetime | None = None
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        """The camera's entry in a heartbeat body."""
        return {
            "key": self.key,
            "name": self.name,
            "frames_arriving": self.frames_arriving,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "bitrate_bps": self.bitrate_bps,
            "last_frame_at": iso(self.last_frame_at) if self.last_frame_at else None,
            "error": self.error,
        }


class Camera(Protocol):
    key: str
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> None: ...

    def snapshot(self) -> CameraHealth: ...


class PacketWindow:
    """Video packets of the last few seconds: frame rate and bitrate from them."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        # (arrival on the monotonic clock, presentation time in stream seconds or None, size in bytes)
        self.packets: deque[tuple[float, float | None, int]] = deque()

    def add(self, arrived: float, pts_s: float | None, size: int) -> None:
        self.packets.append((arrived, pts_s, size))
        self._forget_before(arrived - self.window_s)

    def _forget_before(self, moment: float) -> None:
        while self.packets and self.packets[0][0] < moment:
            self.packets.popleft()

    def clear(self) -> None:
        self.packets.clear()

    def rates(self, now: float) -> tuple[float | None, int | None]:
        """(frames per second, bits per second), None while there are too few packets to tell."""
        self._forget_before(now - self.window_s)
        if len(self.packets) < 2:
            return None, None
        # The stream's own timestamps measure the camera's rate; arrival times are bunched by buffering.
        stamped = [(pts_s, size) for _, pts_s, size in self.packets if pts_s is not None]
        if len(stamped) >= 2 and stamped[-1][0] > stamped[0][0]:
            span, counted = stamped[-1][0] - stamped[0][0], stamped[1:]
        else:
            span, counted = self.packets[-1][0] - self.packets[0][0], [(0.0, size) for *_, size in self.packets][1:]
        if span <= 0:
            return None, None
        frames = len(counted)
        bits = sum(size for _, size in counted) * 8
        return round(frames / span, 1), int(bits / span)


class NoVideoStream(Exception):
    pass


class StreamEnded(Exception):
    pass


_CREDENTIALS_IN_URL = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str) -> str:
    """Camera URLs carry passwords; they never go into a message."""
    return _CREDENTIALS_IN_URL.sub(r"\1***@", text)


def describe_camera_error(error: BaseException) -> str:
    """What went wrong reading a camera, in words its owner understands."""
    import av.error

    if isinstance(error, NoVideoStream):
        return "no video stream"
    if isinstance(error, StreamEnded | av.error.EOFError):
        return "the stream ended"
    if isinstance(error, av.error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, av.error.HTTPUnauthorizedError):
        return "the camera refused the user name or password (401)"
    if isinstance(error, av.error.HTTPForbiddenError):
        return "the camera refused access (403)"
    if isinstance(error, av.error.HTTPNotFoundError):
        return "no such stream on the camera (404)"
    if isinstance(error, av.error.TimeoutError | av.error.ExitError | TimeoutError):
        return "the camera did not answer (timed out)"
    if isinstance(error, av.error.ConnectionResetError | av.error.BrokenPipeError):
        return "the camera closed the connection"
    if isinstance(error, av.error.InvalidDataError):
        return "the camera sent something that is not a video stream it can read"
    if isinstance(error, av.error.ProtocolNotFoundError):
        return "not a camera address this agent can read (use rtsp://...)"
    if isinstance(error, OSError):
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "the camera's address cannot be reached"
        if error.errno == errno.EIO:
            return "cannot reach the camera (input/output error; check its address)"
        if error.strerror:
            return redact(error.strerror.lower())
    first_line = (str(error) or type(error).__name__).splitlines()[0]
    return redact(first_line)[:200]


class RtspCamera:
    """Reads one RTSP camera in its own thread, demuxing packets only, and reconnects with backoff
    (1 s doubling to 30 s) whenever the source is gone."""

    def __init__(
        self,
        key: str,
        name: str,
        url: str,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.key = key
        self.name = name
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff = Backoff(base_s=backoff_base_s, cap_s=backoff_cap_s, jitter=False)
        self.clock = clock
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"camera-{key}", daemon=True)
        self._window = PacketWindow()
        self._last_packet_at: float | None = None
        self._last_frame_at: datetime | None = None
        self._width: int | None = None
        self._height: int | None = None
        self._codec: str | None = None
        self._error = "connecting"
        self._connected = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def snapshot(self) -> CameraHealth:
        now = self.clock()
        with self._lock:
            arriving = (
                self._connected and self._last_packet_at is not None and now - self._last_packet_at < STALE_AFTER_S
            )
            fps, bitrate = self._window.rates(now) if arriving else (None, None)
            error = self._error
            if not arriving and not error and self._last_packet_at is not None:
                error = f"no frames for {now - self._last_packet_at:.0f} s"
            return CameraHealth(
                key=self.key,
                name=self.name,
                frames_arriving=arriving,
                fps=fps,
                width=self._width,
                height=self._height,
                codec=self._codec,
                bitrate_bps=bitrate,
                last_frame_at=self._last_frame_at,
                error="" if arriving else error,
            )

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._read_until_it_fails()
            except Exception as error:  # any failure of one camera is reported, never raised
                with self._lock:
                    self._error = describe_camera_error(error)
                    self._connected = False
                    self._window.clear()
            if not self._stopping.is_set():
                self._stopping.wait(self.backoff.next_delay())

    def _read_until_it_fails(self) -> None:
        import av

        container = av.open(
            self.url,
            options={
                "rtsp_transport": "tcp",
                # FFmpeg's socket I/O timeout, in microseconds.
                "timeout": str(int(self.read_timeout_s * 1_000_000)),
            },
            timeout=(self.open_timeout_s, self.read_timeout_s),
        )
        try:
            video = next((stream for stream in container.streams if stream.type == "video"), None)
            if video is None:
                raise NoVideoStream()
            context = video.codec_context
            with self._lock:
                self._width = context.width or None
                self._height = context.height or None
                self._codec = context.name or None
                self._connected = True
            time_base = video.time_base
            for packet in container.demux(video):
                if self._stopping.is_set():
                    return
                if packet.size == 0:  # the demuxer's empty flush packet at the end
                    continue
                now = self.clock()
                pts_s = float(packet.pts * time_base) if packet.pts is not None and time_base else None
                with self._lock:
                    self._window.add(now, pts_s, packet.size)
                    self._last_packet_at = now
                    self._last_frame_at = datetime.now(UTC)
                    self._error = ""
                self.backoff.reset()
            raise StreamEnded()
        finally:
            container.close()


class SimulatedCamera:
    """A camera that reports plausible health without any video: 1920x1080 H.264 at about 15 fps and
    2 Mbit/s. "flaky" ones stop sending frames now and then (outages start at random, `outage_every_s`
    apart on average, and last `outage_s`); "dead" ones are never reachable."""

    def __init__(
        self,
        key: str,
        name: str,
        behaviour: str = "healthy",
        *,
        outage_every_s: float = 120.0,
        outage_s: float = 30.0,
        rng: random.Random | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.key = key
        self.name = name
        self.behaviour = behaviour
        self.outage_every_s = outage_every_s
        self.outage_s = outage_s
        self.rng = rng or random.Random()
        self.clock = clock
        self._checked_at = clock()
        self._outage_until: float | None = None
        self._outage_started_at: datetime | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def join(self, timeout: float) -> None:
        pass

    def _in_outage(self, now: float) -> bool:
        if self.behaviour != "flaky":
            return False
        if self._outage_until is not None and now < self._outage_until:
            return True
        self._outage_until = None
        elapsed, self._checked_at = now - self._checked_at, now
        if self.rng.random() < 1 - math.exp(-elapsed / self.outage_every_s):
            self._outage_until = now + self.outage_s
            self._outage_started_at = datetime.now(UTC)
            return True
        return False

    def snapshot(self) -> CameraHealth:
        now = self.clock()
        if self.behaviour == "dead":
            return CameraHealth(key=self.key, name=self.name, frames_arriving=False, error="connection refused")
        if self._in_outage(now):
            silent_for = self.outage_s - (self._outage_until or now) + now
            return CameraHealth(
                key=self.key,
                name=self.name,
                frames_arriving=False,
                width=1920,
                height=1080,
                codec="h264",
                last_frame_at=self._outage_started_at,
                error=f"no frames for {max(silent_for, STALE_AFTER_S):.0f} s",
            )
        return CameraHealth(
            key=self.key,
            name=self.name,
            frames_arriving=True,
            fps=round(self.rng.uniform(14.6, 15.2), 1),
            width=1920,
            height=1080,
            codec="h264",
            bitrate_bps=int(self.rng.gauss(2_000_000, 150_000)),
            last_frame_at=datetime.now(UTC) - timedelta(seconds=self.rng.uniform(0, 0.07)),
        )


def build_cameras(configured: list[CameraConfig], simulated: int = 0) -> list[Camera]:
    """The cameras of the config file, then `simulated` more healthy simulated ones."""
    cameras: list[Camera] = []
    for camera in configured:
        if camera.simulate:
            cameras.append(SimulatedCamera(camera.key, camera.name, camera.simulate))
        elif camera.url:
            cameras.append(RtspCamera(camera.key, camera.name, camera.url))
    taken = {camera.key for camera in cameras}
    for number in range(1, simulated + 1):
        key = f"simulated-{number}"
        while key in taken:
            key += "-x"
        taken.add(key)
        cameras.append(SimulatedCamera(key, f"Simulated camera {number}", "healthy"))
    return cameras
