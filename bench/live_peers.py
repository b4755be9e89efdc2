"""WebRTC peers for bench/live_video.py: a cheap publisher of a pre-encoded H.264 clip (no encoder), WHIP and WHEP
calls against a running server, and the two load processes of its scale run (`python -m bench.live_peers publish
|view CONFIG`), which talk to the benchmark with one JSON line per command on stdin/stdout.

The view process hands H.264 on undecoded (the relay's own pass-through), so a viewer costs the bench machine
little and counts frames as the relay sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from backend.sharing.relay import install_pass_through, mark_pass_through

SDP = "application/sdp"
FPS = 15
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
CLIP_SECONDS = 4
CLIP_FILTER = "testsrc2=size=640x360:rate=15,noise=alls=12:allf=t"  # noise: about 1 Mbit/s like a camera substream
CONNECT_TIMEOUT_S = 20.0


# --- the clip ---------------------------------------------------------------------------------------------------


def encode_clip(directory: Path) -> tuple[Path, Path]:
    """A 4 s 640x360 15 fps H.264 clip, about 1 Mbit/s, a key frame (with SPS/PPS) every second: (mp4, Annex B)."""
    mp4, annex_b = directory / "clip.mp4", directory / "clip.h264"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", CLIP_FILTER,
         "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", str(FPS),
         "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-b:v", "1M", "-maxrate", "1M", "-bufsize", "500k",
         "-x264-params", "repeat-headers=1", str(mp4)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy",
         "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(annex_b)],
        check=True,
    )  # fmt: skip
    return mp4, annex_b


def clip_packets(annex_b: Path) -> list[tuple[bytes, bool]]:
    with av.open(str(annex_b), format="h264") as container:
        return [(bytes(p), bool(p.is_keyframe)) for p in container.demux(container.streams.video[0]) if p.size]


class ClipTrack(MediaStreamTrack):
    """The clip's packets in a loop, in real time at 15 fps, never encoded: what a passthrough camera sends.
    `paused` holds the next packet back (the sender waits); `sent` counts the packets handed to the sender."""

    kind = "video"

    def __init__(self, packets: list[tuple[bytes, bool]]) -> None:
        super().__init__()
        self.packets = packets
        self.sent = 0
        self.resumed = asyncio.Event()
        self.resumed.set()
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self.resumed.wait()
            now = time.monotonic()
            if self._start is None:  # the first packet, or the first after a pause: the clock starts here
                self._start = now - self._index / FPS
            else:
                self._index += 1
                due = self._start + self._index / FPS
                if due > now:
                    await asyncio.sleep(due - now)
                elif now - due > 1.0:  # far behind (the loop was busy): keep time from here
                    self._start = now - self._index / FPS
            if self.resumed.is_set():
                break  # (paused during the wait: this one goes out after the pause)
        data, _keyframe = self.packets[self._index % len(self.packets)]
        packet = av.Packet(data)
        packet.pts = packet.dts = self._index * 90_000 // FPS
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet

    def pause(self) -> None:
        self.resumed.clear()

    def resume(self) -> None:
        if not self.resumed.is_set():
            self._index += 1
            self._start = None  # start the clock again (the gap is not made up in a burst)
            self.resumed.set()


# --- WebRTC over WHIP / WHEP ------------------------------------------------------------------------------------


def h264_only(pc: RTCPeerConnection) -> None:
    codecs = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/h264"]
    for transceiver in pc.getTransceivers():
        transceiver.setCodecPreferences(codecs)


async def connected(pc: RTCPeerConnection, timeout: float = CONNECT_TIMEOUT_S) -> None:
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise ConnectionError(f"the peer connection {pc.connectionState}")
            await asyncio.sleep(0.02)


async def whip(client: httpx.AsyncClient, whip_url: str, credential: str, track: MediaStreamTrack) -> RTCPeerConnection:
    """Publish `track` as a device does: one sendonly H.264 video, offer POSTed with the device credential."""
    pc = RTCPeerConnection()
    pc.addTransceiver(track, direction="sendonly")
    h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    response = await client.post(
        whip_url, content=pc.localDescription.sdp,
        headers={"Content-Type": SDP, "Authorization": f"Bearer {credential}"},
    )  # fmt: skip
    if response.status_code != 201:
        await pc.close()
        raise RuntimeError(f"WHIP {response.status_code}: {response.text[:300]}")
    await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    return pc


@dataclass
class Viewing:
    """One WHEP viewer: its peer connection, and what arrived (frames as the receiver reassembled them, RTP
    packets and the time of the last one, and when the track ended)."""

    pc: RTCPeerConnection
    track: Any = None
    frames: int = 0
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    rtp_packets: int = 0
    last_rtp_at: float | None = None
    ended_at: float | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    on_frame: Any = None
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                now = time.monotonic()
                self.frames += 1
                self.last_frame_at = now
                if self.first_frame_at is None:
                    self.first_frame_at = now
                if self.on_frame is not None:
                    self.on_frame(frame, now)
        except MediaStreamError:
            self.ended_at = time.monotonic()

    async def close(self) -> None:
        await self.pc.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


def recv_only_viewer(on_frame: Any = None) -> Viewing:
    """A peer connection that receives one H.264 video and reads it as it comes (decoded unless the process hands
    H.264 on undecoded); the time of every RTP packet is noted below the jitter buffer."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    h264_only(pc)
    viewing = Viewing(pc, on_frame=on_frame)
    receiver = transceiver.receiver
    handle = receiver._handle_rtp_packet

    async def counted(packet: Any, arrival_time_ms: int) -> None:
        viewing.rtp_packets += 1
        viewing.last_rtp_at = time.monotonic()
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = counted

    @pc.on("track")
    def on_track(track: Any) -> None:
        viewing.track = track
        viewing.reader = asyncio.ensure_future(viewing.read())
        viewing.arrived.set()

    return viewing


async def whep(
    client: httpx.AsyncClient, camera_id: str, csrf: str, on_frame: Any = None, undecoded: bool = False
) -> Viewing:
    """Play a shared camera as the desk does: recvonly offer POSTed with the session cookie and the CSRF header.
    A 409 (the camera's video has not reached the relay yet) is tried again. `undecoded`: H.264 is handed on as
    received, the relay's own way (the load's viewers count frames without decoding them)."""
    for _attempt in range(20):
        viewing = recv_only_viewer(on_frame)
        await viewing.pc.setLocalDescription(await viewing.pc.createOffer())
        response = await client.post(
            f"/live/v1/whep/{camera_id}", content=viewing.pc.localDescription.sdp,
            headers={"Content-Type": SDP, "x-csrftoken": csrf},
        )  # fmt: skip
        if response.status_code == 201:
            await viewing.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
            if undecoded:
                mark_pass_through(viewing.pc)  # before the first frame: the receiver picks its decoder then
            return viewing
        await viewing.pc.close()
        if response.status_code != 409:
            raise RuntimeError(f"WHEP {response.status_code}: {response.text[:300]}")
        await asyncio.sleep(0.5)
    raise RuntimeError("WHEP: the camera's video never reached the relay")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the scale run's load processes -----------------------------------------------------------------------------


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _commands() -> Any:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield json.loads(line)


async def _publish(config: dict[str, Any]) -> None:
    packets = clip_packets(Path(config["clip"]))
    tracks: list[ClipTrack] = []
    pcs: list[RTCPeerConnection] = []
    async with httpx.AsyncClient(base_url=config["base"], timeout=30) as client:
        async for command in _commands():
            if command["do"] == "add":  # publish more cameras
                for whip_url in command["whip_urls"]:
                    track = ClipTrack(packets)
                    pcs.append(await whip(client, whip_url, config["credential"], track))
                    tracks.append(track)
                await asyncio.gather(*(connected(pc) for pc in pcs))
                _say({"published": len(pcs)})
            elif command["do"] == "count":
                _say({"sent": [t.sent for t in tracks], "cpu": process_cpu_seconds(os.getpid()),
                      "down": sum(1 for pc in pcs if pc.connectionState != "connected")})  # fmt: skip
            elif command["do"] == "pause":
                for track in tracks:
                    track.pause()
                await asyncio.sleep(2 / FPS)  # a packet being paced when the pause came is not counted
                _say({"sent": [t.sent for t in tracks]})
            elif command["do"] == "resume":
                for track in tracks:
                    track.resume()
                _say({"resumed": len(tracks)})
            elif command["do"] == "quit":
                break
    await asyncio.gather(*(pc.close() for pc in pcs))


async def _view(config: dict[str, Any]) -> None:
    install_pass_through()
    viewings: list[tuple[int, Viewing]] = []  # (index of the camera, viewer)
    async with httpx.AsyncClient(base_url=config["base"], cookies=config["cookies"], timeout=30) as client:
        async for command in _commands():
            if command["do"] == "add":  # watch more cameras, `viewers` times each
                added = []
                for index, camera_id in command["cameras"]:
                    for _ in range(command["viewers"]):
                        viewing = await whep(client, camera_id, config["csrf"], undecoded=True)
                        added.append(viewing)
                        viewings.append((index, viewing))
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await asyncio.gather(*(v.arrived.wait() for v in added))
                    while any(v.frames == 0 for v in added):
                        await asyncio.sleep(0.05)
                _say({"viewing": len(viewings)})
            elif command["do"] == "count":
                now = time.monotonic()
                _say({
                    "frames": [[i, v.frames, v.rtp_packets, now - (v.last_frame_at or now)] for i, v in viewings],
                    "cpu": process_cpu_seconds(os.getpid()),
                    "down": sum(1 for _, v in viewings if v.ended_at or v.pc.connectionState != "connected"),
                })  # fmt: skip
            elif command["do"] == "quiet":  # the publishers paused: wait until no frame came for `gap` s
                gap = command["gap"]
                async with asyncio.timeout(30):
                    while True:
                        now = time.monotonic()
                        if all(now - (v.last_frame_at or 0) >= gap for _, v in viewings):
                            break
                        await asyncio.sleep(0.05)
                _say({"frames": [[i, v.frames, v.rtp_packets, v.last_frame_at] for i, v in viewings],
                      "now": time.monotonic()})  # fmt: skip
            elif command["do"] == "quit":
                break
    await asyncio.gather(*(v.close() for _, v in viewings))


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("aioice.ice").setLevel(logging.INFO)  # consent expiries and ICE failures, in the load's log
    role, config = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    asyncio.run(_publish(config) if role == "publish" else _view(config))


if __name__ == "__main__":
    main()
