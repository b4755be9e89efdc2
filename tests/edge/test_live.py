"""Live video: the agent publishes a shared camera with WHIP to a real aiortc receiver (tests/edge/whip_receiver.py)
while the desired state shares it, stops when the share ends, and retries politely when the relay closes."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent
from edge.cameras import build_cameras
from edge.client import Backoff
from edge.config import load_config
from edge.live import parse_share
from edge.testpattern import TestPattern, barcode_row, now_ms, read_barcode
from edge.tracks import RtspTrack
from tests.edge.conftest import Ffmpeg, RelayRunner
from tests.edge.device_server_stub import StubDeviceServer
from tests.edge.whip_receiver import ReceiverSession, WhipReceiver

REPO = Path(__file__).resolve().parents[2]
SHARE_ID = "5b0e7c1e-8d4f-4f7e-9a55-2f1c3f5e9d01"


def make_agent(config_path: Path, **options: Any) -> Agent:
    config = load_config(config_path)
    return Agent(
        config,
        build_cameras(config.cameras),
        config_path=config_path,
        interval_override_s=0.5,
        backoff_factory=lambda: Backoff(base_s=0.02, cap_s=0.1),
        **options,
    )


def share(stub: StubDeviceServer, *keys: str, until: datetime | None = None, relative: bool = False) -> dict:
    """A desired `share`; `relative` WHIP URLs (a path on the server) as Porchlight's own relay sends them."""
    until = until or datetime.now(UTC) + timedelta(hours=1)
    return {
        "share_id": SHARE_ID,
        "until": until.isoformat().replace("+00:00", "Z"),
        "cameras": [
            {"key": key, "whip_url": f"/live/v1/whip/sc-{key}" if relative else stub.whip_url(f"sc-{key}")}
            for key in keys
        ],
        "ice_servers": [],
    }


async def eventually(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened within {timeout} s: {what}"
        await asyncio.sleep(0.02)


def receiving(receiver: WhipReceiver, frames: int = 5) -> Callable[[], ReceiverSession | None]:
    def session_with_frames() -> ReceiverSession | None:
        for session in list(receiver.sessions.values()):
            if session.frames_received >= frames and not session.closed.is_set():
                return session
        return None

    return session_with_frames


async def stop(agent: Agent, running: asyncio.Task[int]) -> int:
    agent.stop()
    return await asyncio.wait_for(running, 10)


def offered_codecs(sdp: str) -> set[str]:
    return {match.split("/")[0].upper() for match in re.findall(r"a=rtpmap:\d+ ([\w-]+/\d+)", sdp)}


# --- the test pattern -------------------------------------------------------------------------------------------


def test_barcode_is_48_blocks_of_13_pixels_msb_first_and_reads_back() -> None:
    value = 0b1011 << 44 | 1  # bits 47, 45, 44 and 0
    row = barcode_row(value, 640)
    assert row[:8] == bytes([16]) * 8
    assert row[8 : 8 + 13] == bytes([235]) * 13  # bit 47 first
    assert row[8 + 13 : 8 + 26] == bytes([16]) * 13
    assert row[8 + 47 * 13 : 8 + 48 * 13] == bytes([235]) * 13  # bit 0 last
    assert row[8 + 48 * 13 :] == bytes([16]) * 8

    before = now_ms()
    frame = TestPattern().frame(0, 15)
    assert (frame.width, frame.height, frame.format.name) == (640, 360, "yuv420p")
    assert before <= read_barcode(frame) <= now_ms()
    assert bytes(frame.planes[1])[: 320 * 16] == bytes([128]) * 320 * 16  # neutral chroma in the strip
    # Something below the strip moves from frame to frame.
    later = TestPattern().frame(20, 15)
    assert bytes(frame.planes[0])[640 * 100 : 640 * 101] != bytes(later.planes[0])[640 * 100 : 640 * 101]


def test_share_document_is_parsed_and_a_share_past_its_until_has_ended() -> None:
    parsed = parse_share(
        {
            "share_id": "s",
            "until": "2026-12-03T15:00:00Z",
            "cameras": [{"key": "front-door", "whip_url": "http://relay/live/v1/whip/1"}, {"key": 3}],
            "ice_servers": [{"urls": ["stun:stun.example.org:3478"], "username": "u", "credential": "c"}],
        }
    )
    assert parsed is not None and [camera.key for camera in parsed.cameras] == ["front-door"]
    assert parsed.until == datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert parsed.ended(datetime(2026, 12, 3, 15, tzinfo=UTC))
    assert not parsed.ended(datetime(2026, 12, 3, 14, 59, tzinfo=UTC))
    assert parse_share(None) is None


def test_an_agent_that_does_not_share_does_not_load_webrtc() -> None:
    code = (
        "import sys, edge.cli, edge.agent\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiortc', 'aioice')))"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


# --- publishing ---------------------------------------------------------------------------------------------------


async def test_shared_simulated_camera_is_published_with_whip_and_its_barcode_reads_back_as_now(
    stub_server: StubDeviceServer, whip_receiver: WhipReceiver, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    stub_server.set_share(share(stub_server, "front-door"))
    agent = make_agent(paired_config)
    running = asyncio.create_task(agent.run())
    try:
        session = await eventually(receiving(whip_receiver), what="decoded frames at the receiver")
    finally:
        await stop(agent, running)

    (post, *_) = stub_server.whip_posts()
    assert post["path"] == "/live/v1/whip/sc-front-door"
    assert post["authorization"] == "Bearer test-credential"
    assert post["content_type"] == "application/sdp"
    assert "a=sendonly" in session.offer_sdp and session.offer_sdp.count("m=video") == 1
    assert "m=audio" not in session.offer_sdp
    assert offered_codecs(session.offer_sdp) == {"H264"}

    received = session.frames[-1]
    assert (received.frame.width, received.frame.height) == (640, 360)
    latency_ms = received.received_ms - read_barcode(received.frame)
    assert 0 <= latency_ms < 3000, latency_ms
    assert re.search(r"Sharing front-door live until (\d\d \w{3} )?\d\d:\d\d", caplog.text)  # a day too, past midnight
    # Stopping the agent ends the WHIP session too.
    assert [request["path"] for request in stub_server.whip_deletes()] == [
        f"/live/v1/whip/sc-front-door/sessions/{session.id}"
    ]


async def test_rtsp_camera_h264_is_passed_through_and_the_receiver_decodes_it(
    ffmpeg: Ffmpeg,
    rtsp_relays: RelayRunner,
    publish,
    stub_server: StubDeviceServer,
    whip_receiver: WhipReceiver,
    tmp_path: Path,
) -> None:
    port = rtsp_relays.start()
    camera_url = f"rtsp://127.0.0.1:{port}/cam"
    publish(camera_url)
    config = tmp_path / "config.toml"
    config.write_text(
        f'server = "{stub_server.url}"\ndevice_id = "d-1"\ncredential = "test-credential"\n\n'
        f'[[cameras]]\nname = "Front door"\nurl = "{camera_url}"\n'
    )
    stub_server.set_share(share(stub_server, "front-door"))
    agent = make_agent(config)
    running = asyncio.create_task(agent.run())
    try:
        session = await eventually(receiving(whip_receiver, frames=10), timeout=20, what="frames of the RTSP camera")
        (publisher,) = agent.live.publishers.values()
        track = publisher.track
    finally:
        await stop(agent, running)

    assert isinstance(track, RtspTrack)
    if ffmpeg.codec == "h264":
        assert track.mode == "passthrough"  # av.Packets to aiortc's H264 packer, no decoding or encoding here
    else:
        assert track.mode == "transcode"
    assert track.items_read >= 10
    assert offered_codecs(session.offer_sdp) == {"H264"}
    frame = session.frames[-1].frame
    assert (frame.width, frame.height) == (640, 360)


async def test_share_set_to_null_stops_publishing_within_2_seconds(
    stub_server: StubDeviceServer, whip_receiver: WhipReceiver, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    stub_server.set_share(share(stub_server, "front-door", relative=True))
    agent = make_agent(paired_config)
    running = asyncio.create_task(agent.run())
    try:
        session = await eventually(receiving(whip_receiver), what="live video")
        stub_server.set_share(None)
        await eventually(session.closed.is_set, timeout=2, what="the receiver's peer connection closing")
        assert session.deleted  # by the agent's DELETE, not by a timeout
        await eventually(lambda: "Stopped sharing front-door: share ended" in caplog.text, timeout=2)
        (delete,) = stub_server.whip_deletes()
        assert delete["path"] == f"/live/v1/whip/sc-front-door/sessions/{session.id}"
        assert delete["authorization"] == "Bearer test-credential"
        assert agent.live.publishers == {}
    finally:
        await stop(agent, running)
    assert len(stub_server.whip_posts()) == 1


async def test_publishing_stops_at_until_on_the_agents_own_clock(
    stub_server: StubDeviceServer, whip_receiver: WhipReceiver, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    until = datetime.now(UTC) + timedelta(seconds=2)
    stub_server.set_share(share(stub_server, "front-door", until=until))
    agent = make_agent(paired_config)
    running = asyncio.create_task(agent.run())
    try:
        session = await eventually(receiving(whip_receiver), what="live video")
        await eventually(session.closed.is_set, timeout=6, what="the share ending at its until")
        ended_late_s = (datetime.now(UTC) - until).total_seconds()
        assert -0.1 <= ended_late_s < 1.5
        assert session.deleted
        await eventually(lambda: "Stopped sharing front-door: share ended" in caplog.text, timeout=2)
        assert stub_server.desired["share"] is not None  # no new desired state said so
    finally:
        await stop(agent, running)


async def test_relay_closing_the_connection_means_retries_with_backoff_until_a_410(
    stub_server: StubDeviceServer, whip_receiver: WhipReceiver, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    stub_server.set_share(share(stub_server, "front-door"))
    agent = make_agent(paired_config, live_backoff_factory=lambda: Backoff(base_s=0.2, cap_s=2, jitter=False))
    running = asyncio.create_task(agent.run())
    try:
        session = await eventually(receiving(whip_receiver), what="live video")
        stub_server.whip_replies.extend(
            [
                (503, {"title": "Service Unavailable", "status": 503, "detail": "The relay is restarting."}),
                (410, {"title": "Gone", "status": 410, "detail": "This share has ended."}),
            ]
        )
        closed_at = time.monotonic()
        await asyncio.to_thread(whip_receiver.close_session, session)  # the relay ends it by itself
        refused = "Not sharing front-door: the server answered 410: This share has ended. Waiting for the next"
        await eventually(lambda: refused in caplog.text, timeout=5, what="the 410 being logged")
        first, after_close, after_503 = stub_server.whip_posts()
        assert after_close["at"] - closed_at >= 0.2  # 0.2 s, then 0.4 s: backoff, no hammering
        assert after_503["at"] - after_close["at"] >= 0.4
        assert "Sharing front-door: the relay closed the live connection. Trying again in 0.2 s." in caplog.text
        assert (
            "Sharing front-door: cannot reach the relay: the server answered 503: The relay is restarting. "
            "Trying again in 0.4 s." in caplog.text
        )

        # No more tries while the desired state stays the same ...
        await asyncio.sleep(1.0)
        assert len(stub_server.whip_posts()) == 3
        # ... and a new desired state that still shares the camera is tried again.
        stub_server.set_share(share(stub_server, "front-door"))
        again = await eventually(
            lambda: next((s for s in whip_receiver.sessions.values() if s is not session and s.frames_received), None),
            what="publishing again after the desired state changed",
        )
        assert not again.closed.is_set()
        assert len(re.findall(r"Sharing front-door live until", caplog.text)) == 2
    finally:
        await stop(agent, running)
    assert len(stub_server.whip_posts()) == 4
    assert "Traceback" not in caplog.text
