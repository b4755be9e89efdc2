"""The panic button: `porchlight-edge alert`, and `run --panic-gpio` / `run --panic-key` reporting button presses
through the running agent."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.cameras import build_cameras
from edge.cli import main
from edge.client import Backoff
from edge.config import load_config
from tests.edge.device_server_stub import StubDeviceServer

REPO = Path(__file__).resolve().parents[2]


def test_alert_command_reports_a_button_press(
    stub_server: StubDeviceServer, paired_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alert", "--config", str(paired_config)]) == 0
    (event,) = stub_server.events
    assert (event["kind"], event["detail"]) == ("button_press", "")
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset().total_seconds() == 0
    assert "Event button_press sent." in capsys.readouterr().out

    assert main(["alert", "--detail", "shop counter", "--config", str(paired_config)]) == 0
    assert stub_server.events[-1]["detail"] == "shop counter"
    stub_server.revoked = True
    assert main(["alert", "--config", str(paired_config)]) == 3


async def test_gpio_rising_edge_reports_one_button_press_debounced(
    stub_server: StubDeviceServer, paired_config: Path, tmp_path: Path
) -> None:
    pin = tmp_path / "value"
    pin.write_text("1\n")  # held high at start: not a press
    config = load_config(paired_config)
    agent = Agent(
        config,
        build_cameras(config.cameras),
        config_path=paired_config,
        interval_override_s=0.5,
        backoff_factory=lambda: Backoff(base_s=0.02, cap_s=0.1),
        panic_gpio=pin,
    )
    running = asyncio.create_task(agent.run())

    async def events_after(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(stub_server.events) < count:
            assert time.monotonic() < deadline, "no button_press event"
            await asyncio.sleep(0.02)

    try:
        await asyncio.sleep(0.2)
        assert stub_server.events == []
        pin.write_text("0\n")
        await asyncio.sleep(0.15)
        pin.write_text("1\n")  # pressed
        await events_after(1)
        pressed_at = time.monotonic()
        for value in ("0\n", "1\n"):  # the contact bounces
            pin.write_text(value)
            await asyncio.sleep(0.12)
        await asyncio.sleep(max(0.0, 0.8 - (time.monotonic() - pressed_at)))
        assert len(stub_server.events) == 1  # still inside the 1 s debounce
        await asyncio.sleep(0.3)
        pin.write_text("0\n")
        await asyncio.sleep(0.12)
        pin.write_text("1\n")  # a second press, after the debounce
        await events_after(2)
    finally:
        agent.stop()
        await asyncio.wait_for(running, 5)
    assert [event["kind"] for event in stub_server.events] == ["button_press", "button_press"]
    assert stub_server.events[0]["detail"] == f"GPIO {pin}"


def test_panic_key_enter_on_the_terminal_reports_a_button_press(
    stub_server: StubDeviceServer, paired_config: Path
) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(paired_config), "--interval", "0.2", "--panic-key"],
        cwd=REPO,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(terminal)
    try:
        stub_server.wait_for(lambda: len(stub_server.heartbeats) >= 1, timeout=15)
        os.write(controller, b"\n")
        stub_server.wait_for(lambda: len(stub_server.events) >= 1, timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
        os.close(controller)
    assert process.returncode == 0, output
    assert "Panic key: press Enter here to report a button press" in output
    assert "Panic button press reported to Porchlight" in output
    (event,) = stub_server.events
    assert (event["kind"], event["detail"]) == ("button_press", "Enter key")
