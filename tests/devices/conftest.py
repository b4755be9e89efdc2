"""Shared steps for edge-device tests: an owner with a site, and devices paired through the real API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tests.conftest import Client
from tests.helpers import add_site, sign_up

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def health(key: str = "front", name: str = "Front door", arriving: bool = True, **overrides: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "key": key, "name": name, "frames_arriving": arriving, "fps": 15.0 if arriving else None,
        "width": 1920, "height": 1080, "codec": "h264", "bitrate_bps": 2_000_000 if arriving else 0,
        "last_frame_at": now.isoformat() if arriving else None, "error": "" if arriving else "connection refused",
        **overrides,
    }  # fmt: skip


def report(*cameras: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "agent_version": "0.1.0", "uptime_s": 120, "disk_free_bytes": 8_000_000_000,
        "sent_at": dt.datetime.now(dt.UTC).isoformat(), "reported_version": 0,
        "cameras": list(cameras), **overrides,
    }  # fmt: skip


@dataclass
class Paired:
    id: str
    credential: str
    site_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


async def start_pairing(client: Client) -> dict[str, Any]:
    response = await client.post("/device/v1/device_authorization", data={"client_id": "porchlight-edge"})
    assert response.status_code == 200, response.text
    return response.json()


async def poll(client: Client, device_code: str) -> Any:
    return await client.post(
        "/device/v1/token", data={"grant_type": GRANT, "device_code": device_code, "client_id": "porchlight-edge"}
    )


async def pair(owner: Client, device: Client, site_id: str, name: str = "Storefront core") -> Paired:
    """The box asks for a code, the owner approves it in the app, the box collects its credential."""
    started = await start_pairing(device)
    response = await owner.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": started["user_code"], "name": name, "site_id": site_id}
    )
    assert response.status_code == 201, response.text
    token = await poll(device, started["device_code"])
    assert token.status_code == 200, token.text
    return Paired(token.json()["device_id"], token.json()["access_token"], site_id)


async def owner_with_site(client: Client, email: str = "owner@example.com", **site: Any) -> str:
    await sign_up(client, email)
    return (await add_site(client, **site))["id"]
