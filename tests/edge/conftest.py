"""Fixtures for the edge agent's tests: a stand-in device API server (with a WHIP receiver made of aiortc for
live video), and a real RTSP camera made of Debian's ffmpeg (publishing a test pattern) and a tiny RTSP relay
(tests/edge/rtsp_relay.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.edge.device_server_stub import StubDeviceServer
from tests.edge.rtsp_relay import RtspRelay
from tests.edge.whip_receiver import WhipReceiver
from tests.live_server import free_port as free_port  # the camera and agent tests take it from here


@pytest.fixture
def stub_server() -> Iterator[StubDeviceServer]:
    server = StubDeviceServer().start()
    yield server
    server.stop()


@pytest.fixture
def whip_receiver(stub_server: StubDeviceServer) -> Iterator[WhipReceiver]:
    """The stub server answers WHIP with this receiver's peer connections."""
    receiver = WhipReceiver()
    stub_server.whip = receiver
    yield receiver
    stub_server.whip = None
    receiver.close()


@pytest.fixture
def paired_config(tmp_path: Path, stub_server: StubDeviceServer) -> Path:
    path = tmp_path / "edge" / "config.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text(
        f'server = "{stub_server.url}"\ndevice_id = "d-1"\ncredential = "test-credential"\n\n'
        '[[cameras]]\nname = "Front door"\nsimulate = "healthy"\n\n'
        '[[cameras]]\nkey = "garage"\nname = "Garage"\nsimulate = "dead"\n'
    )
    path.chmod(0o600)
    return path


# --- a real RTSP camera ----------------------------------------------------------------------------------------


def _ffmpeg_missing(reason: str) -> None:
    """In CI a missing ffmpeg is a broken build, not a reason to skip the camera tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the RTSP camera tests must run)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Ffmpeg:
    path: str
    encoder: str  # libx264 when Debian's ffmpeg has it, else mpeg4
    codec: str  # what a reader should report


@pytest.fixture(scope="session")
def ffmpeg() -> Ffmpeg:
    path = shutil.which("ffmpeg")
    if path is None:
        _ffmpeg_missing("ffmpeg is not installed (apt-get install ffmpeg; `make test` does it as root)")
    encoders = subprocess.run([path, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if " libx264 " in encoders:
        return Ffmpeg(path, "libx264", "h264")
    return Ffmpeg(path, "mpeg4", "mpeg4")


class RelayRunner:
    """RTSP relays, each on its own event loop in a thread, so camera readers (threads) can use them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relays: list[RtspRelay] = []

    def start(self, port: int = 0) -> int:
        relay = RtspRelay()
        self.relays.append(relay)
        return asyncio.run_coroutine_threadsafe(relay.start("127.0.0.1", port), self.loop).result(5)

    def close(self) -> None:
        for relay in self.relays:
            asyncio.run_coroutine_threadsafe(relay.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def rtsp_relays() -> Iterator[RelayRunner]:
    runner = RelayRunner()
    yield runner
    runner.close()


@pytest.fixture
def publish(ffmpeg: Ffmpeg) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start ffmpeg publishing a 640x360 15 fps test pattern to an RTSP URL (the relay)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(url: str) -> subprocess.Popen[bytes]:
        encoder_options = (
            ["-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0"] if ffmpeg.encoder == "libx264" else []
        )
        command = [ffmpeg.path, "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
        command += ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15", "-c:v", ffmpeg.encoder, *encoder_options]
        command += ["-g", "15", "-f", "rtsp", "-rtsp_transport", "tcp", url]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
