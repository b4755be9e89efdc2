"""The real agent (`porchlight-edge`, its own process) against a real server: it pairs by the code its owner
types, heartbeats its cameras' health, follows a rename by long-poll, survives a restart without pairing again,
and stops with a clear message when its owner removes it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.db import migrate
from tests.agent_process import SIMULATED_CAMERA, Agent, start_pairing
from tests.databases import create_database, drop_database
from tests.helpers import PASSWORD, SITE
from tests.live_server import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = create_database(tmp_path_factory.mktemp("agent-db"), "agent")
    try:
        migrate(database_url)
        with running_server(database_url, tmp_path_factory.mktemp("agent-var")) as url:
            yield url
    finally:
        drop_database(database_url)


class Owner(httpx.Client):
    """The owner's app, speaking the JSON API with its CSRF token."""

    def call(self, method: str, url: str, json: Any = None) -> httpx.Response:
        if "csrftoken" not in self.cookies:
            self.get("/health")
        return self.request(method, url, json=json, headers={"x-csrftoken": self.cookies["csrftoken"]})


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


@pytest.mark.slow
def test_the_agent_pairs_reports_health_follows_changes_and_stops_when_removed(server: str, tmp_path: Path) -> None:
    config = tmp_path / "edge" / "config.toml"
    with Owner(base_url=server) as owner:
        signup = {"email": "shop@example.org", "password": PASSWORD, "display_name": "Shop owner"}
        assert owner.call("POST", "/api/v1/auth/signup", signup).status_code == 201
        site = owner.call("POST", "/api/v1/sites", SITE).json()

        pairing, code = start_pairing(server, config)
        approved = owner.call(
            "POST", "/api/v1/devices/pair", {"user_code": code, "name": "Storefront core", "site_id": site["id"]}
        )
        assert approved.status_code == 201, approved.text
        pairing.wait_for_line(lambda line: line == "Paired as Storefront core at Corner bakery", timeout=20)
        assert pairing.process.wait(timeout=10) == 0
        assert config.stat().st_mode & 0o777 == 0o600
        device_id = approved.json()["id"]

        with config.open("a") as file:
            file.write(SIMULATED_CAMERA)
        agent = Agent("run", "--config", str(config), "--interval", "1")
        try:

            def healthy() -> dict | None:
                seen = owner.call("GET", f"/api/v1/devices/{device_id}").json()
                ok = seen["status"] == "online" and [c["frames_arriving"] for c in seen["cameras"]] == [True]
                return seen if ok else None

            seen = eventually(healthy, 20, "the device online with its camera sending video")
            assert seen["cameras"][0]["name"] == "Front door" and seen["cameras"][0]["fps"] > 0

            owner.call("PATCH", f"/api/v1/devices/{device_id}", {"name": "Back office core"})
            agent.wait_for_line(lambda line: "Desired state version" in line and "Back office core" in line, timeout=5)
            assert agent.stop() == 0

            # A restart reads the same config: heartbeats go on, no pairing.
            before = owner.call("GET", f"/api/v1/devices/{device_id}").json()["last_heartbeat_at"]
            agent = Agent("run", "--config", str(config), "--interval", "1")
            eventually(
                lambda: owner.call("GET", f"/api/v1/devices/{device_id}").json()["last_heartbeat_at"] != before,
                15, "a heartbeat after the restart",
            )  # fmt: skip

            assert owner.call("DELETE", f"/api/v1/devices/{device_id}").status_code == 204
            assert agent.process.wait(timeout=30) == 3
            agent.wait_for_line(lambda line: "removed from Porchlight" in line, timeout=5)
        finally:
            agent.stop()
