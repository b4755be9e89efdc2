"""Pairing a box with an owner's account, RFC 8628 style: codes, polling, errors, single use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices import service
from backend.devices.models import EdgeDevice, PairingCode
from backend.tokens import token_hash
from tests.conftest import Client
from tests.devices.conftest import owner_with_site, pair, poll, start_pairing


async def test_a_box_pairs_with_the_code_its_owner_types(client: Client, other_client: Client, db: AsyncSession):
    site_id = await owner_with_site(client)
    started = await start_pairing(other_client)
    code = started["user_code"]
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(service.USER_CODE_ALPHABET)
    assert started["verification_uri_complete"].endswith(f"/devices/add?code={code}")
    assert (started["expires_in"], started["interval"]) == (600, 5)

    pending = await poll(other_client, started["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    typed = code.lower().replace("-", " ")  # as a person may type it
    approved = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": typed, "name": "Storefront core", "site_id": site_id}
    )
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "pairing"

    await db.execute(select(1))
    code_row = await db.scalar(select(PairingCode))
    code_row.last_polled_at -= dt.timedelta(seconds=10)  # the box waited its interval
    await db.commit()
    token = await poll(other_client, started["device_code"])
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["device_name"] == "Storefront core"
    assert body["site_name"] == "Corner bakery" and token.headers["cache-control"] == "no-store"
    # Only the credential's hash is stored.
    device = await db.scalar(select(EdgeDevice))
    assert device.credential_hash == token_hash(body["access_token"])
    assert body["access_token"] not in str(device.__dict__)

    again = await poll(other_client, started["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    reused = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": code, "name": "Second", "site_id": site_id}
    )
    assert reused.status_code == 400
    assert reused.json()["errors"] == [
        {"field": "user_code", "message": "That code was already used. Start pairing again on the device."}
    ]
    assert await db.scalar(select(func.count()).select_from(EdgeDevice)) == 1


async def test_polling_faster_than_the_interval_gets_slow_down_and_a_longer_interval(db: AsyncSession):
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    started = await service.start_pairing(db, agent_version="0.1.0", base_url="http://x", now=now)
    for seconds, expected in (
        (0, "authorization_pending"),
        (2, "slow_down"),
        (9, "slow_down"),
        (25, "authorization_pending"),
    ):
        try:
            await service.exchange_device_code(db, started.device_code, now=now + dt.timedelta(seconds=seconds))
        except service.DeviceGrantError as exc:
            assert exc.error == expected, (seconds, exc.error)
        else:
            raise AssertionError(f"no error at {seconds} s")
    # Two slow_downs added 5 s each (5 -> 10 -> 15); 16 s after the last poll is slow enough.
    assert (await db.scalar(select(PairingCode.interval_s))) == 15


async def test_an_expired_or_unknown_code_is_refused_with_the_rfc_errors(
    client: Client, other_client: Client, db: AsyncSession
):
    site_id = await owner_with_site(client)
    started = await start_pairing(other_client)
    await db.execute(select(1))
    row = await db.scalar(select(PairingCode))
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await db.commit()

    expired = await poll(other_client, started["device_code"])
    assert expired.json() == {
        "error": "expired_token",
        "error_description": "The code expired before the owner approved it; start pairing again",
    }
    late = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": started["user_code"], "name": "Core", "site_id": site_id}
    )
    assert late.status_code == 400 and "expired" in late.json()["errors"][0]["message"]

    unknown = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": "BBBB-BBBB", "name": "Core", "site_id": site_id}
    )
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "user_code"
    made_up = await poll(other_client, "not-a-device-code")
    assert made_up.json()["error"] == "invalid_grant"
    wrong_grant = await other_client.post("/device/v1/token", data={"grant_type": "password", "device_code": "x"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert await db.scalar(select(func.count()).select_from(EdgeDevice)) == 0


async def test_a_device_goes_only_to_a_site_of_the_owner_who_approves(
    client: Client, other_client: Client, db: AsyncSession
):
    theirs = await owner_with_site(client, "first@example.com")
    await owner_with_site(other_client, "second@example.com", name="Second shop")
    started = await start_pairing(client)
    response = await other_client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": started["user_code"], "name": "Core", "site_id": theirs}
    )
    assert response.status_code == 404
    assert await db.scalar(select(func.count()).select_from(EdgeDevice)) == 0
    # The code is still good for its real owner.
    await pair_with(client, started, theirs)


async def pair_with(client: Client, started: dict, site_id: str) -> None:
    response = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": started["user_code"], "name": "Core", "site_id": site_id}
    )
    assert response.status_code == 201, response.text


async def test_pairing_helper_gives_a_working_credential(client: Client, other_client: Client):
    site_id = await owner_with_site(client)
    device = await pair(client, other_client, site_id)
    response = await other_client.get("/device/v1/desired?wait=0", headers=device.auth)
    assert response.status_code == 200
    assert response.json()["device_name"] == "Storefront core"


async def test_an_owner_typing_many_wrong_codes_must_wait(client: Client, other_client: Client, db: AsyncSession):
    site_id = await owner_with_site(client)
    started = await start_pairing(other_client)
    for n in range(service.PAIRING_FAILURES_ALLOWED):
        wrong = await client.send_json(
            "POST", "/api/v1/devices/pair", {"user_code": f"BBBB-BBB{'CDFGHJKLMN'[n]}", "name": "C", "site_id": site_id}
        )
        assert wrong.status_code == 400
    right = await client.send_json(
        "POST", "/api/v1/devices/pair", {"user_code": started["user_code"], "name": "Core", "site_id": site_id}
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    page = await client.submit("/devices/add", {"user_code": started["user_code"], "name": "Core", "site_id": site_id})
    assert page.status_code == 429 and "Wait 15 minutes" in page.text and 'value="Core"' in page.text
    assert await db.scalar(select(func.count()).select_from(EdgeDevice)) == 0
