"""The panic button with the real agent (`porchlight-edge`, its own process) against a real server: a press only
notifies the owner until "share on alert" is allowed; then a press starts a share at once, the agent publishes its
camera to the relay, and the owner's Stop makes it stop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import migrate
from tests.agent_process import SIMULATED_CAMERA, Agent, start_pairing
from tests.databases import create_database, drop_database
from tests.devices.test_agent_end_to_end import Owner, eventually
from tests.e2e import seed
from tests.helpers import PASSWORD, SITE
from tests.live_server import running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real server on its own database, with the program's agency."""
    database_url = create_database(tmp_path, "panic")
    try:
        migrate(database_url)
        _agency(database_url)
        with running_server(database_url, tmp_path) as url:
            yield url
    finally:
        drop_database(database_url)


def _agency(database_url: str) -> None:
    """The program's agency (its live desk sees shares)."""

    async def work(db) -> None:  # type: ignore[no-untyped-def]
        await accounts.create_user(
            db, email="desk@mpd.example", password=PASSWORD, display_name="J. Ortiz", roles=[Role.LIVE_DESK],
            agency_name="Milwaukee PD",
        )  # fmt: skip
        await db.commit()

    seed.run(database_url, work)


def _alert(config: Path) -> int:
    press = Agent("alert", "--config", str(config), "--detail", "back door")
    return press.process.wait(timeout=30)


@pytest.mark.slow
def test_a_press_notifies_then_shares_once_allowed_and_the_agent_publishes(server: str, tmp_path: Path) -> None:
    config = tmp_path / "edge" / "config.toml"
    with Owner(base_url=server) as owner:
        signup = {"email": "panic@example.org", "password": PASSWORD, "display_name": "Shop owner"}
        assert owner.call("POST", "/api/v1/auth/signup", signup).status_code == 201
        site = owner.call("POST", "/api/v1/sites", SITE).json()
        pairing, code = start_pairing(server, config)
        approved = owner.call(
            "POST", "/api/v1/devices/pair", {"user_code": code, "name": "Core", "site_id": site["id"]}
        )
        assert approved.status_code == 201, approved.text
        assert pairing.process.wait(timeout=20) == 0
        device_id = approved.json()["id"]
        with config.open("a") as file:
            file.write(SIMULATED_CAMERA)

        agent = Agent("run", "--config", str(config), "--interval", "1")
        try:
            eventually(lambda: owner.call("GET", "/api/v1/shares/shareable").json()[0]["cameras"], 20, "camera online")
            assert _alert(config) == 0
            eventually(
                lambda: any(
                    n["title"].startswith("Panic button pressed at")
                    for n in owner.call("GET", "/api/v1/notifications").json()["items"]
                ),
                10,
                "the owner told of the press",
            )
            assert owner.call("GET", "/api/v1/shares").json() == []  # "share on alert" is off: nothing shared

            allowed = owner.call("PATCH", f"/api/v1/devices/{device_id}", {"share_on_alert": True})
            assert allowed.status_code == 200, allowed.text
            assert _alert(config) == 0
            share = owner.call("GET", "/api/v1/shares").json()[0]
            assert share["trigger"] == "button" and share["state"] in ("requested", "live")
            agent.wait_for_line(lambda line: "Sharing front live until" in line, timeout=20)
            eventually(
                lambda: owner.call("GET", f"/api/v1/shares/{share['id']}").json()["state"] == "live",
                20,
                "the relay receiving the camera",
            )

            assert owner.call("POST", f"/api/v1/shares/{share['id']}/stop").status_code == 200
            agent.wait_for_line(lambda line: "Stopped sharing front" in line, timeout=10)
        finally:
            agent.stop()
