"""Camera readers: a real RTSP stream (ffmpeg through the test relay), a dead source, simulated cameras."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from edge.cameras import CameraHealth, PacketWindow, RtspCamera, SimulatedCamera, build_cameras, redact
from edge.config import CameraConfig
from tests.edge.conftest import Ffmpeg, RelayRunner, free_port


def wait_until(camera: RtspCamera, condition: Callable[[CameraHealth], bool], timeout: float) -> CameraHealth:
    deadline = time.monotonic() + timeout
    while True:
        health = camera.snapshot()
        if condition(health):
            return health
        if time.monotonic() > deadline:
            raise AssertionError(f"camera never reached the expected state; last: {health}")
        time.sleep(0.1)


@pytest.fixture
def reader_factory():
    cameras: list[RtspCamera] = []

    def make(url: str) -> RtspCamera:
        # A short backoff cap keeps the reconnect test quick; the agent's default is 30 s.
        camera = RtspCamera("front-door", "Front door", url, backoff_cap_s=0.5, open_timeout_s=5, read_timeout_s=3)
        camera.start()
        cameras.append(camera)
        return camera

    yield make
    for camera in cameras:
        camera.stop()
    for camera in cameras:
        camera.join(5)


def test_live_rtsp_stream_reports_frames_rate_resolution_codec_and_bitrate(
    ffmpeg: Ffmpeg, rtsp_relays: RelayRunner, publish, reader_factory
) -> None:
    port = rtsp_relays.start()
    publish(f"rtsp://127.0.0.1:{port}/cam")
    time.sleep(0.5)  # ffmpeg announces the stream
    camera = reader_factory(f"rtsp://127.0.0.1:{port}/cam")

    health = wait_until(camera, lambda h: h.frames_arriving and h.fps is not None, timeout=15)
    time.sleep(1.5)  # a second and more of packets in the window
    health = camera.snapshot()

    assert health.frames_arriving is True
    assert health.error == ""
    assert health.fps == pytest.approx(15, abs=1.5)
    assert (health.width, health.height) == (640, 360)
    assert health.codec == ffmpeg.codec
    assert health.bitrate_bps is not None and health.bitrate_bps > 10_000
    assert health.last_frame_at is not None
    assert (datetime.now(UTC) - health.last_frame_at).total_seconds() < 2
    entry = health.as_json()
    assert entry["last_frame_at"].endswith("+00:00")


def test_dead_source_is_reported_and_the_reader_recovers_when_the_camera_appears(
    ffmpeg: Ffmpeg, rtsp_relays: RelayRunner, publish, reader_factory
) -> None:
    port = free_port()
    camera = reader_factory(f"rtsp://admin:secret@127.0.0.1:{port}/cam")

    health = wait_until(camera, lambda h: h.error not in ("", "connecting"), timeout=5)
    assert health.frames_arriving is False
    assert health.error == "connection refused"
    assert (health.fps, health.bitrate_bps, health.last_frame_at) == (None, None, None)

    rtsp_relays.start(port)  # something answers now, but the stream is not published yet
    health = wait_until(camera, lambda h: "404" in h.error, timeout=5)
    assert health.error == "no such stream on the camera (404)"
    assert "secret" not in health.error

    process = publish(f"rtsp://127.0.0.1:{port}/cam")
    health = wait_until(camera, lambda h: h.frames_arriving, timeout=15)
    assert health.error == ""
    assert health.codec == ffmpeg.codec

    process.terminate()  # the camera goes away again: reported, and the reader keeps trying
    health = wait_until(camera, lambda h: not h.frames_arriving, timeout=10)
    assert health.error
    assert camera._thread.is_alive()


def test_packet_window_measures_rate_from_stream_timestamps_despite_bursty_arrival() -> None:
    window = PacketWindow(window_s=5)
    for index in range(31):  # two seconds of a 15 fps stream, all arriving at once
        window.add(100.0, index / 15, 10_000)
    fps, bitrate = window.rates(100.0)
    assert fps == 15.0
    assert bitrate == 10_000 * 8 * 15
    assert window.rates(106.0) == (None, None)  # nothing in the last five seconds


def test_simulated_cameras_are_plausible_flaky_or_dead() -> None:
    healthy = SimulatedCamera("a", "A", "healthy").snapshot()
    assert healthy.frames_arriving and healthy.codec == "h264" and (healthy.width, healthy.height) == (1920, 1080)
    assert 14 <= (healthy.fps or 0) <= 16 and 1_000_000 < (healthy.bitrate_bps or 0) < 3_000_000

    dead = SimulatedCamera("b", "B", "dead").snapshot()
    assert not dead.frames_arriving and dead.error == "connection refused" and dead.fps is None

    now = [0.0]
    flaky = SimulatedCamera("c", "C", "flaky", outage_every_s=1e-9, outage_s=60, clock=lambda: now[0])
    now[0] = 1.0
    down = flaky.snapshot()
    assert not down.frames_arriving and down.error.startswith("no frames for")
    flaky.outage_every_s = 1e12
    now[0] = 62.0
    assert flaky.snapshot().frames_arriving


def test_build_cameras_adds_simulated_ones_and_passwords_stay_out_of_messages() -> None:
    cameras = build_cameras([CameraConfig("simulated-1", "Mine", simulate="healthy")], simulated=2)
    assert [camera.key for camera in cameras] == ["simulated-1", "simulated-1-x", "simulated-2"]
    assert redact("cannot open rtsp://admin:hunter2@10.0.0.5/stream") == "cannot open rtsp://***@10.0.0.5/stream"
