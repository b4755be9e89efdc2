"""Push subscriptions as the browser sends them: validation, one per browser, devices, kinds, removal."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from push.models import Channel, Delivery, PushSubscription
from push.vapid import b64url
from tests.conftest import Client
from tests.helpers import sign_up

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)


def browser_subscription(endpoint: str = "") -> dict:
    """What PushSubscription.toJSON() gives: a fresh P-256 public key and a 16-byte auth secret."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {
        "endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/{os.urandom(8).hex()}",
        "expirationTime": None,
        "keys": {"p256dh": b64url(raw), "auth": b64url(os.urandom(16))},
    }


async def subscribe(client: Client, subscription: dict, user_agent: str = ANDROID_CHROME):
    return await client.send_json(
        "POST", "/api/v1/push/subscriptions", subscription, headers={"user-agent": user_agent}
    )


async def _count(db: AsyncSession, model) -> int:
    return await db.scalar(select(func.count()).select_from(model))


async def test_the_public_key_is_an_uncompressed_p256_point(client: Client) -> None:
    key = (await client.get("/api/v1/push/key")).json()["public_key"]
    from push.vapid import b64url_decode

    raw = b64url_decode(key)
    assert len(raw) == 65 and raw[0] == 4


async def test_subscribing_saves_the_device_with_a_recognisable_name(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    response = await subscribe(client, browser_subscription())
    assert response.status_code == 201, response.text
    device = response.json()
    assert device["name"] == "Chrome on Android" and device["this_browser"] is True
    assert device["muted_kinds"] == []
    devices = (await client.get("/api/v1/push/subscriptions")).json()
    assert [d["id"] for d in devices] == [device["id"]]
    page = await client.get("/settings/notifications")
    assert "Chrome on Android" in page.text and "this browser" in page.text


async def test_subscribing_again_from_the_same_browser_replaces_the_record(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    first = browser_subscription()
    await subscribe(client, first)
    renewed_keys = browser_subscription()["keys"]
    again = await subscribe(client, {**first, "keys": renewed_keys})
    assert again.status_code == 201
    assert await _count(db, PushSubscription) == 1
    stored = await db.scalar(select(PushSubscription))
    assert stored.p256dh == renewed_keys["p256dh"]


async def test_bad_subscriptions_are_refused_with_the_field_named(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    good = browser_subscription()
    cases = [
        ({**good, "endpoint": "http://fcm.googleapis.com/fcm/send/x"}, "endpoint", "must be an https URL"),
        ({**good, "endpoint": "https://10.0.0.5/push/x"}, "endpoint", "10.0.0.5 is not a known push service"),
        ({**good, "endpoint": "https://evil.example/push.apple.com"}, "endpoint", "not a known push service"),
        ({**good, "keys": {**good["keys"], "p256dh": b64url(b"\x04" + os.urandom(10))}}, "keys.p256dh", "65-byte"),
        ({**good, "keys": {**good["keys"], "p256dh": b64url(b"\x04" + b"\x01" * 64)}}, "keys.p256dh", "not a point"),
        ({**good, "keys": {**good["keys"], "auth": b64url(os.urandom(8))}}, "keys.auth", "must be 16 bytes"),
    ]
    for body, field, message in cases:
        response = await subscribe(client, body)
        assert response.status_code == 400, body
        errors = response.json()["errors"]
        assert errors[0]["field"] == field and message in errors[0]["message"], errors
    unknown = await subscribe(client, {**good, "extra": 1})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "extra"
    assert await _count(db, PushSubscription) == 0


async def test_apple_mozilla_and_microsoft_push_hosts_are_allowed(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    for endpoint in (
        "https://web.push.apple.com/QGhq1",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
    ):
        assert (await subscribe(client, browser_subscription(endpoint))).status_code == 201, endpoint


async def test_rename_choose_kinds_and_remove_a_device(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    device = (await subscribe(client, browser_subscription())).json()
    url = f"/api/v1/push/subscriptions/{device['id']}"
    renamed = await client.send_json("PATCH", url, {"name": "Kitchen tablet", "muted_kinds": ["district_announcement"]})
    assert renamed.json()["name"] == "Kitchen tablet" and renamed.json()["muted_kinds"] == ["district_announcement"]
    bad = await client.send_json("PATCH", url, {"muted_kinds": ["weather"]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "muted_kinds"
    page = await client.submit(f"/settings/notifications/{device['id']}/kinds", {"kind-footage_request": "on"})
    assert "Saved: this device gets the kinds ticked." in page.text
    stored = await db.scalar(select(PushSubscription))
    await db.refresh(stored)
    assert "footage_request" not in stored.muted_kinds and "share_now" in stored.muted_kinds
    removed = await client.submit(f"/settings/notifications/{device['id']}/remove", {})
    assert "Device removed" in removed.text
    assert await _count(db, PushSubscription) == 0


async def test_another_persons_devices_are_404_and_untouched(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "first@example.com")
    device = (await subscribe(client, browser_subscription())).json()
    await sign_up(other_client, "second@example.com")
    url = f"/api/v1/push/subscriptions/{device['id']}"
    assert (await other_client.send_json("PATCH", url, {"name": "Mine"})).status_code == 404
    assert (await other_client.send_json("DELETE", url)).status_code == 404
    assert (await other_client.send_json("POST", f"{url}/test")).status_code == 404
    assert (await other_client.submit(f"/settings/notifications/{device['id']}/remove", {})).status_code == 404
    assert (await other_client.get("/api/v1/push/subscriptions")).json() == []
    pushes = await db.scalar(select(func.count()).select_from(Delivery).where(Delivery.channel == Channel.PUSH))
    assert await _count(db, PushSubscription) == 1 and pushes == 0  # no test message went out


async def test_signing_out_on_the_browser_removes_its_subscription(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    await subscribe(client, browser_subscription())
    await client.send_json("POST", "/api/v1/auth/logout")
    assert await _count(db, PushSubscription) == 0


async def test_a_browser_that_changes_hands_stops_pushing_to_its_previous_owner(
    client: Client, db: AsyncSession
) -> None:
    shared = browser_subscription()
    await sign_up(client, "first@example.com")
    await subscribe(client, shared)
    await client.send_json("POST", "/api/v1/auth/logout")
    await sign_up(client, "second@example.com")
    await subscribe(client, shared)
    owners = (await db.execute(select(PushSubscription.user_id))).scalars().all()
    me = (await client.get("/api/v1/me")).json()["id"]
    assert [str(o) for o in owners] == [me]


async def test_service_worker_can_renew_a_subscription_with_the_old_auth_secret(
    client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "owner@example.com")
    old = browser_subscription()
    await subscribe(client, old)
    renewed = browser_subscription()
    anonymous = Client(client.app)  # the service worker has no page and no CSRF token
    wrong = await anonymous.post(
        "/api/v1/push/subscription-change",
        json={"old_endpoint": old["endpoint"], "old_auth": renewed["keys"]["auth"], "subscription": renewed},
    )
    assert wrong.status_code == 404
    ok = await anonymous.post(
        "/api/v1/push/subscription-change",
        json={"old_endpoint": old["endpoint"], "old_auth": old["keys"]["auth"], "subscription": renewed},
    )
    assert ok.status_code == 204
    stored = (await db.scalars(select(PushSubscription))).all()
    assert [s.endpoint for s in stored] == [renewed["endpoint"]]


async def test_ios_safari_tab_is_told_to_add_to_home_screen(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    page = await client.get("/settings/notifications")
    assert "On iPhone and iPad, notifications work once Porchlight is on your Home Screen" in page.text
