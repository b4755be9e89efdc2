"""The simulator: pairs devices as the owner would (sign-in with CSRF, approve each code), keeps their
credentials for the next run, and sends heartbeats spread over the interval."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from edge.simulate import SimulationError, run_simulation
from tests.edge.device_server_stub import StubDeviceServer


async def simulate(stub: StubDeviceServer, state: Path, **overrides) -> object:
    options = {
        "server": stub.url,
        "devices": 3,
        "cameras_per_device": 2,
        "email": "owner@example.org",
        "password": "owner-password",
        "site_id": "site-1",
        "state_path": state,
        "interval_s": 0.3,
        "duration_s": 1.0,
        "summary_every_s": 0.4,
    }
    options.update(overrides)
    return await run_simulation(**options)


async def test_simulated_devices_pair_through_the_owner_and_heartbeat_spread_over_the_interval(
    stub_server: StubDeviceServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge")
    stub_server.auto_approve = False  # only the owner's approval lets a device collect its credential
    state = tmp_path / "simulated-devices.json"

    statistics = await simulate(stub_server, state)

    assert stub_server.sign_ins == 1
    assert len(stub_server.authorizations) == 3
    names = sorted(a["approved_name"] for a in stub_server.authorizations.values())
    assert names == ["Simulated core 001", "Simulated core 002", "Simulated core 003"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    saved = json.loads(state.read_text())
    assert len(saved["devices"]) == 3

    assert set(stub_server.heartbeat_credentials) == {device["credential"] for device in saved["devices"]}
    assert statistics.sent == len(stub_server.heartbeats) >= 6
    assert all(len(body["cameras"]) == 2 for body in stub_server.heartbeats)
    assert "heartbeats, 0 failed, p50" in caplog.text and "p99" in caplog.text

    # A second run reuses the credentials: no new pairing, no sign-in.
    await simulate(stub_server, state, duration_s=0.4)
    assert len(stub_server.authorizations) == 3
    assert stub_server.sign_ins == 1


async def test_a_refused_sign_in_stops_the_simulation_with_the_reason(
    stub_server: StubDeviceServer, tmp_path: Path
) -> None:
    with pytest.raises(SimulationError, match="signing in as owner@example.org was refused: 401 Wrong email"):
        await simulate(stub_server, tmp_path / "state.json", password="not-it")
    assert stub_server.authorizations == {}
