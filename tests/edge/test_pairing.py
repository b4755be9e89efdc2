"""Pairing (RFC 8628) against the stand-in server: polling, slow_down, expiry, refusal, network trouble."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import httpx
import pytest

from edge.client import PairingFailed, poll_for_token, start_device_authorization
from edge.config import load_config
from edge.pairing import pair
from tests.edge.device_server_stub import StubDeviceServer


def pending(error: str, description: str = "") -> tuple[int, dict[str, str]]:
    return 400, {"error": error, "error_description": description or error}


class RecordedSleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_pending_then_slow_down_then_success_grows_the_interval_by_5(stub_server: StubDeviceServer) -> None:
    stub_server.interval = 1
    stub_server.token_replies.extend([pending("authorization_pending"), pending("slow_down")])
    sleeps = RecordedSleeps()
    async with httpx.AsyncClient() as http:
        authorization = await start_device_authorization(http, stub_server.url)
        paired = await poll_for_token(http, stub_server.url, authorization, sleep=sleeps)

    assert sleeps == [1, 1, 6]
    assert stub_server.token_polls == 3
    assert paired.access_token.startswith("credential-")
    assert (paired.device_name, paired.site_name) == ("Core", "Home")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (pending("expired_token"), "The code expired; run pair again"),
        (pending("access_denied", "The owner declined this device."), "The owner declined this device."),
        (pending("invalid_grant", "Unknown device code."), "Unknown device code."),
    ],
)
async def test_expired_or_refused_codes_end_pairing_with_the_reason(
    stub_server: StubDeviceServer, reply: tuple[int, dict[str, str]], message: str
) -> None:
    stub_server.token_replies.extend([pending("authorization_pending"), reply])
    async with httpx.AsyncClient() as http:
        authorization = await start_device_authorization(http, stub_server.url)
        with pytest.raises(PairingFailed, match=message):
            await poll_for_token(http, stub_server.url, authorization, sleep=RecordedSleeps())


async def test_server_errors_while_polling_are_retried_until_the_owner_approves(stub_server: StubDeviceServer) -> None:
    stub_server.token_replies.extend([(503, {"detail": "down for a moment"}), (502, {})])
    troubles: list[str] = []
    async with httpx.AsyncClient() as http:
        authorization = await start_device_authorization(http, stub_server.url)
        paired = await poll_for_token(
            http,
            stub_server.url,
            authorization,
            sleep=RecordedSleeps(),
            on_network_error=lambda e: troubles.append(e.kind),
        )
    assert troubles == ["http-503", "http-502"]
    assert paired.device_id


async def test_the_code_expiring_locally_ends_polling(stub_server: StubDeviceServer) -> None:
    stub_server.expires_in = 0
    async with httpx.AsyncClient() as http:
        authorization = await start_device_authorization(http, stub_server.url)
        with pytest.raises(PairingFailed, match="The code expired; run pair again"):
            await poll_for_token(http, stub_server.url, authorization, sleep=RecordedSleeps())


async def test_pair_shows_the_code_and_qr_then_writes_a_private_config_keeping_cameras(
    stub_server: StubDeviceServer, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[cameras]]\nkey = "porch"\nname = "Porch"\nurl = "rtsp://10.0.0.9/live"\n')
    stub_server.token_replies.append(pending("authorization_pending"))
    out = io.StringIO()

    await pair(stub_server.url + "/", path, out=out, sleep=RecordedSleeps())

    text = out.getvalue()
    (authorization,) = stub_server.authorizations.values()
    assert "  ".join(authorization["user_code"]) in text
    assert f"{stub_server.url}/devices/add?code={authorization['user_code']}" in text
    assert "▀" in text or "█" in text  # the QR code, drawn with half blocks
    assert "Waiting for you to approve it in the Porchlight app…" in text
    assert "Paired as Core at Home" in text

    config = load_config(path)
    assert config.server == stub_server.url
    assert config.credential in stub_server.credentials
    assert [camera.key for camera in config.cameras] == ["porch"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
