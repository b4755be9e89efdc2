"""The video a share sends, as aiortc tracks: an RTSP camera's H.264 passed through, or the test pattern.

Imported only when a share starts (aiortc is heavy); `edge.live` decides which track a camera gets.

- `RtspTrack` reads the camera with PyAV in a thread. H.264 is passed through as `av.Packet`s (aiortc's sender
  packs them into RTP without re-encoding); any other codec is decoded and aiortc encodes H.264. Timestamps are
  rebased to 90 kHz from the moment the track started, so a reconnect to the camera continues the timeline.
- `TestPatternTrack` makes 640x360 frames at 15 fps with the wall-clock barcode of `edge.testpattern`.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
import time
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from edge.cameras import NoVideoStream, StreamEnded, describe_camera_error
from edge.client import Backoff
from edge.testpattern import TestPattern

log = logging.getLogger("edge")

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
# About four seconds of video at 15 fps: a sender further behind than that drops to the next keyframe.
QUEUE_LIMIT = 64
START_CODE = b"\x00\x00\x01"
NAL_IDR, NAL_SPS = 5, 7


def nal_unit_types(data: bytes) -> set[int]:
    """The NAL unit types in an Annex B H.264 access unit."""
    types = set()
    position = data.find(START_CODE)
    while position != -1 and position + 3 < len(data):
        types.add(data[position + 3] & 0x1F)
        position = data.find(START_CODE, position + 3)
    return types


class _PacedTrack(MediaStreamTrack):
    """Frames or packets from a queue, handed out no faster than their timestamps say (real time)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._start: float | None = None
        self._waiting_for_keyframe = True

    def _offer(self, item: Any, keyframe: bool) -> None:
        """Called on the event loop for each frame or packet the reader produced."""
        if self.readyState != "live":
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            # Nobody is taking them (the connection is slow): drop what is queued, go on from a keyframe.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._waiting_for_keyframe = True
        if self._waiting_for_keyframe and not keyframe:
            return
        self._waiting_for_keyframe = False
        self._queue.put_nowait(item)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        due = float(item.pts * item.time_base)
        now = time.monotonic()
        if self._start is None or now - (self._start + due) > 1.0:
            self._start = now - due  # the first one, or far behind: keep time from here
        else:
            wait = self._start + due - now
            if wait > 0:
                await asyncio.sleep(wait)
        return item


class RtspTrack(_PacedTrack):
    """One RTSP camera's video. `mode` says what it does once it reads the stream: "passthrough" (H.264) or
    "transcode" (anything else, decoded here, encoded by aiortc)."""

    def __init__(
        self,
        url: str,
        *,
        camera_key: str = "",
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        backoff_cap_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.url = url
        self.camera_key = camera_key
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff = Backoff(base_s=1.0, cap_s=backoff_cap_s, jitter=False)
        self.mode: str | None = None
        self.items_read = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origin = time.monotonic()
        self._last_pts = -1

    async def recv(self) -> Any:
        if self._thread is None and self.readyState == "live":
            # Start reading when the sender first asks (the connection is up), not while it is being set up.
            self._loop = asyncio.get_running_loop()
            self._origin = time.monotonic()
            self._thread = threading.Thread(target=self._read, name=f"share-{self.camera_key}", daemon=True)
            self._thread.start()
        return await super().recv()

    def stop(self) -> None:
        super().stop()
        self._stopping.set()

    # --- the reader thread ---

    def _deliver(self, item: Any, keyframe: bool) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stopping.set()
            return
        try:
            loop.call_soon_threadsafe(self._offer, item, keyframe)
        except RuntimeError:  # the loop closed meanwhile
            self._stopping.set()

    def _read(self) -> None:
        last_error = ""
        while not self._stopping.is_set():
            try:
                self._read_until_it_fails()
            except Exception as error:  # a camera that fails is tried again, never raised
                message = describe_camera_error(error)
                if message != last_error:
                    log.warning("Live video of %s: %s; trying again", self.camera_key or "a camera", message)
                    last_error = message
            if not self._stopping.is_set():
                self._stopping.wait(self.backoff.next_delay())

    def _read_until_it_fails(self) -> None:
        container = av.open(
            self.url,
            options={"rtsp_transport": "tcp", "timeout": str(int(self.read_timeout_s * 1_000_000))},
            timeout=(self.open_timeout_s, self.read_timeout_s),
        )
        try:
            video = next((stream for stream in container.streams if stream.type == "video"), None)
            if video is None:
                raise NoVideoStream()
            passthrough = video.codec_context.name == "h264"
            self.mode = "passthrough" if passthrough else "transcode"
            parameter_sets = bytes(video.codec_context.extradata or b"")
            if not parameter_sets.startswith((START_CODE, b"\x00" + START_CODE)):
                parameter_sets = b""  # avcC (MP4-style) extradata; RTSP gives Annex B
            stream_base: int | None = None
            timeline_base = 0
            for packet in container.demux(video):
                if self._stopping.is_set():
                    return
                if packet.size == 0 or packet.pts is None:
                    continue
                if stream_base is None:  # (re)connected: continue the timeline from now
                    stream_base = packet.pts
                    timeline_base = int((time.monotonic() - self._origin) * VIDEO_CLOCK)
                pts = timeline_base + int((packet.pts - stream_base) * video.time_base * VIDEO_CLOCK)
                pts = max(pts, self._last_pts + 1)
                self._last_pts = pts
                if passthrough:
                    self._pass(packet, pts, parameter_sets)
                else:
                    self._decode(packet, pts)
                self.backoff.reset()
            raise StreamEnded()
        finally:
            container.close()

    def _pass(self, packet: av.Packet, pts: int, parameter_sets: bytes) -> None:
        data = bytes(packet)
        types = nal_unit_types(data)
        keyframe = NAL_IDR in types or packet.is_keyframe
        if keyframe and NAL_SPS not in types and parameter_sets:
            data = parameter_sets + data  # a decoder joining here needs SPS and PPS
        out = av.Packet(data)
        out.pts = out.dts = pts
        out.time_base = VIDEO_TIME_BASE
        self.items_read += 1
        self._deliver(out, keyframe)

    def _decode(self, packet: av.Packet, pts: int) -> None:
        for frame in packet.decode():
            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            frame.pts = pts
            frame.time_base = VIDEO_TIME_BASE
            self.items_read += 1
            self._deliver(frame, True)


class TestPatternTrack(MediaStreamTrack):
    """The simulated camera's video: `edge.testpattern` frames, each stamped with the time it was made."""

    __test__ = False
    kind = "video"

    def __init__(self, width: int = 640, height: int = 360, fps: int = 15) -> None:
        super().__init__()
        self.pattern = TestPattern(width, height)
        self.fps = fps
        self.frames_made = 0
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._index += 1
            due = self._start + self._index / self.fps
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 1 / self.fps:
                self._index = int((now - self._start) * self.fps)  # fell behind: skip, stay live
        frame = self.pattern.frame(self._index, self.fps)  # stamped now, after the wait
        frame.pts = self._index * VIDEO_CLOCK // self.fps
        frame.time_base = VIDEO_TIME_BASE
        self.frames_made += 1
        return frame
