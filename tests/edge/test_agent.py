"""The run loop against the stand-in device API: the heartbeat's exact shape, the desired state, a server
that is down, a revoked credential, signals, and events."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from edge import __version__
from edge.agent import EXIT_REVOKED, Agent
from edge.cameras import build_cameras
from edge.cli import main
from edge.client import Backoff
from edge.config import load_config
from tests.agent_process import Agent as AgentProcess
from tests.edge.conftest import free_port
from tests.edge.device_server_stub import StubDeviceServer

REPO = Path(__file__).resolve().parents[2]

CAMERA_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "name": (str,),
    "frames_arriving": (bool,),
    "fps": (float, type(None)),
    "width": (int, type(None)),
    "height": (int, type(None)),
    "codec": (str, type(None)),
    "bitrate_bps": (int, type(None)),
    "last_frame_at": (str, type(None)),
    "error": (str,),
}


def make_agent(config_path: Path, interval: float = 0.05, **options) -> Agent:
    config = load_config(config_path)
    fast_backoff = lambda: Backoff(base_s=0.02, cap_s=0.1)  # noqa: E731
    return Agent(
        config,
        build_cameras(config.cameras),
        config_path=config_path,
        interval_override_s=interval,
        backoff_factory=fast_backoff,
        **options,
    )


async def run_until(agent: Agent, condition, timeout: float = 10.0) -> int:  # type: ignore[no-untyped-def]
    """Run the agent until `condition()` holds, then stop it; its exit code."""
    running = asyncio.create_task(agent.run())
    deadline = time.monotonic() + timeout
    while not condition() and not running.done():
        assert time.monotonic() < deadline, "the agent never got there"
        await asyncio.sleep(0.02)
    agent.stop()
    return await asyncio.wait_for(running, 5)


async def test_heartbeat_body_has_exactly_the_documented_shape(
    stub_server: StubDeviceServer, paired_config: Path
) -> None:
    agent = make_agent(paired_config)
    assert await run_until(agent, lambda: len(stub_server.heartbeats) >= 2) == 0

    body = stub_server.heartbeats[0]
    assert list(body) == ["agent_version", "uptime_s", "disk_free_bytes", "sent_at", "reported_version", "cameras"]
    assert body["agent_version"] == __version__ == "0.1.0"
    assert type(body["uptime_s"]) is int and body["uptime_s"] >= 0
    assert type(body["disk_free_bytes"]) is int and body["disk_free_bytes"] > 0
    assert datetime.fromisoformat(body["sent_at"]).utcoffset().total_seconds() == 0
    assert len(body["sent_at"]) == len("2026-12-03T10:00:00.123000+00:00")
    assert body["reported_version"] == 0
    assert stub_server.heartbeat_credentials[0] == "test-credential"

    healthy, dead = body["cameras"]
    for camera in (healthy, dead):
        assert list(camera) == list(CAMERA_FIELDS)
        for name, types in CAMERA_FIELDS.items():
            assert type(camera[name]) in types, (name, camera[name])
    assert healthy["key"] == "front-door" and healthy["frames_arriving"] is True and healthy["error"] == ""
    assert (healthy["width"], healthy["height"], healthy["codec"]) == (1920, 1080, "h264")
    assert datetime.fromisoformat(healthy["last_frame_at"]).utcoffset().total_seconds() == 0
    assert dead == {
        "key": "garage",
        "name": "Garage",
        "frames_arriving": False,
        "fps": None,
        "width": None,
        "height": None,
        "codec": None,
        "bitrate_bps": None,
        "last_frame_at": None,
        "error": "connection refused",
    }


async def test_desired_state_from_the_long_poll_is_applied_and_reported(
    stub_server: StubDeviceServer, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    agent = make_agent(paired_config, interval=None)  # the server's interval applies
    agent.heartbeat_interval_s = 0.05

    def change_later() -> None:
        time.sleep(0.3)
        stub_server.heartbeat_interval_s = 0.1
        stub_server.desired = {
            **stub_server.desired,
            "version": 3,
            "device_name": "Shop core",
            "heartbeat_interval_s": 0.1,
        }

    threading.Thread(target=change_later).start()
    await run_until(agent, lambda: any(b["reported_version"] == 3 for b in stub_server.heartbeats))

    assert agent.device_name == "Shop core"
    assert agent.heartbeat_interval_s == 0.1
    assert "Desired state version 3: name 'Shop core', heartbeat every 0.1 s" in caplog.text
    assert "clock offset" in caplog.text


async def test_server_down_means_backoff_one_line_per_failure_kind_and_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge")
    port = free_port()  # nothing listens here yet
    path = tmp_path / "config.toml"
    path.write_text(f'server = "http://127.0.0.1:{port}"\ndevice_id = "d"\ncredential = "test-credential"\n')
    agent = make_agent(path)
    attempts = lambda: caplog.text.count("heartbeat failed (refused)")  # noqa: E731
    server: StubDeviceServer | None = None

    def server_comes_back() -> bool:
        nonlocal server
        if server is None and attempts() >= 4:
            server = StubDeviceServer(port).start()
        # The agent's own word that it got through (the server holding a heartbeat comes a moment before it).
        return server is not None and "Heartbeat: the server answers again" in caplog.text

    try:
        assert await run_until(agent, server_comes_back) == 0
    finally:
        if server:
            server.stop()

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    refused = "Heartbeat failed, trying again with backoff: cannot reach the server (connection refused)"
    assert warnings.count(refused) == 1, warnings
    assert server is not None and len(server.heartbeats) >= 1
    assert "Traceback" not in caplog.text


async def test_revoked_credential_stops_with_exit_code_3_and_says_how_to_pair_again(
    stub_server: StubDeviceServer, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stub_server.revoked = True
    agent = make_agent(paired_config)
    assert await asyncio.wait_for(agent.run(), 10) == EXIT_REVOKED
    assert (
        "This device was removed from Porchlight (its credential no longer works). "
        f"Pair it again: porchlight-edge pair --server {stub_server.url}"
    ) in caplog.text


async def test_refused_and_failed_heartbeats_are_one_line_each_and_the_agent_goes_on(
    stub_server: StubDeviceServer, paired_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stub_server.heartbeat_replies.extend(
        [
            (413, {"title": "Request Entity Too Large", "status": 413, "detail": "At most 64 cameras per device."}),
            (503, {"title": "Service Unavailable", "status": 503, "detail": "The database is not answering."}),
            (503, {"title": "Service Unavailable", "status": 503, "detail": "The database is not answering."}),
        ]
    )
    agent = make_agent(paired_config)
    assert await run_until(agent, lambda: len(stub_server.heartbeats) >= 1) == 0

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "Heartbeat refused: At most 64 cameras per device.",
        "Heartbeat failed, trying again with backoff: the server answered 503: The database is not answering.",
    ]


def run_cli(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge", *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_cli_run_exits_3_on_401_without_a_traceback(stub_server: StubDeviceServer, paired_config: Path) -> None:
    stub_server.revoked = True
    process = run_cli("run", "--config", str(paired_config), "--interval", "0.1")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 3
    assert "This device was removed from Porchlight (its credential no longer works)." in output
    assert "Traceback" not in output


def test_cli_run_stops_cleanly_on_sigterm_and_a_restart_needs_no_pairing(
    stub_server: StubDeviceServer, paired_config: Path
) -> None:
    for _ in range(2):  # the second run reads the same config: no pairing in between
        agent = AgentProcess("run", "--config", str(paired_config), "--interval", "0.2", "--simulate", "2")
        # The agent's own line, not the stub holding a heartbeat (the stub sees it a moment before the agent logs).
        agent.wait_for_line(lambda line: "Heartbeat sent: 3/4 camera(s) sending frames" in line, timeout=15)
        assert agent.stop() == 0  # SIGTERM
        agent.wait_for_line(lambda line: line.endswith("Stopped."), timeout=3)
        assert not any("Traceback" in line for line in agent.seen)
    assert len(stub_server.heartbeats[-1]["cameras"]) == 4
    assert stub_server.token_polls == 0


def test_event_command_posts_the_event(
    stub_server: StubDeviceServer, paired_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["event", "button_press", "--detail", "back door", "--config", str(paired_config)]) == 0
    (event,) = stub_server.events
    assert list(event) == ["kind", "occurred_at", "detail"]
    assert (event["kind"], event["detail"]) == ("button_press", "back door")
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset().total_seconds() == 0
    assert "Event button_press sent." in capsys.readouterr().out

    stub_server.revoked = True
    assert main(["event", "button_press", "--config", str(paired_config)]) == 3
