"""The fake push service accepts what a real push service accepts, refuses what it refuses,
decrypts like a browser, and misbehaves when told to."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid, Vapid01
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

from push.fake_service import FakePushService

CONTACT = "mailto:ops@porchlight.example"
REPO_ROOT = Path(__file__).resolve().parents[2]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_b64url(vapid: Vapid01) -> str:
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


@pytest.fixture(scope="module")
def service() -> Iterator[FakePushService]:
    with FakePushService.running() as running:
        yield running


@pytest.fixture(scope="module")
def session(service: FakePushService) -> Iterator[requests.Session]:
    with service.requests_session() as trusting:
        yield trusting


@pytest.fixture(scope="module")
def vapid() -> Vapid01:
    key = Vapid()
    key.generate_keys()
    return key


@pytest.fixture
def subscription(service: FakePushService) -> dict[str, Any]:
    return service.new_subscription()


def send(
    subscription: dict[str, Any],
    session: requests.Session,
    vapid: Vapid01,
    data: str | bytes | None = '{"kind": "footage_request"}',
    **options: Any,
) -> requests.Response:
    """pywebpush as the delivery worker uses it; fresh claims each time because webpush() writes into them."""
    options.setdefault("ttl", 60)
    options.setdefault("vapid_claims", {"sub": CONTACT})
    return webpush(subscription, data, vapid_private_key=vapid, requests_session=session, **options)


def raw_push(
    service: FakePushService,
    subscription: dict[str, Any],
    session: requests.Session,
    vapid: Vapid01,
    *,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str | None] | None = None,
    body: bytes | None = None,
) -> requests.Response:
    """A hand-built request: a correct one unless `claims`, `headers` (None drops one) or `body` say otherwise."""
    signed_claims = {"sub": CONTACT, "aud": service.origin, "exp": int(time.time()) + 3600}
    signed_claims.update(claims or {})
    if body is None:
        body = WebPusher(subscription).encode(b'{"kind": "footage_request"}')["body"]
    # no-strict: py_vapid would refuse to sign some of the bad `sub` values the service must refuse itself.
    signer = Vapid(private_key=vapid.private_key, conf={"no-strict": True})
    all_headers: dict[str, str | None] = {"TTL": "60", "Content-Encoding": "aes128gcm", **signer.sign(signed_claims)}
    all_headers.update(headers or {})
    sent = {name: value for name, value in all_headers.items() if value is not None}
    return session.post(subscription["endpoint"], data=body, headers=sent, timeout=5)


# ------------------------------------------------------------------------------------------------
# Subscriptions and delivery


def test_new_subscription_has_the_browser_shape(service: FakePushService, subscription: dict[str, Any]) -> None:
    assert set(subscription) == {"endpoint", "expirationTime", "keys"}
    assert subscription["endpoint"].startswith(f"{service.origin}/push/")
    assert subscription["expirationTime"] is None
    p256dh = subscription["keys"]["p256dh"]
    auth = subscription["keys"]["auth"]
    assert "=" not in p256dh + auth
    assert len(b64url_decode(p256dh)) == 65 and b64url_decode(p256dh)[0] == 4
    assert len(b64url_decode(auth)) == 16
    assert service.new_subscription()["keys"] != subscription["keys"]


def test_delivers_decrypted_payload_and_records_headers(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    before = time.monotonic()
    response = send(
        subscription,
        session,
        vapid,
        '{"kind": "footage_request", "id": 42}',
        ttl=3600,
        headers={"Urgency": "high", "Topic": "request-42"},
    )

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{service.origin}/message/")
    [message] = service.messages(subscription)
    assert message.json() == {"kind": "footage_request", "id": 42}
    assert message.plaintext == b'{"kind": "footage_request", "id": 42}'
    assert (message.ttl, message.urgency, message.topic) == (3600, "high", "request-42")
    assert message.endpoint == subscription["endpoint"]
    assert subscription["endpoint"].endswith(message.subscription_id)
    assert message.vapid_claims["sub"] == CONTACT
    assert message.vapid_claims["aud"] == service.origin
    assert message.vapid_public_key == public_key_b64url(vapid)
    assert before <= message.received_monotonic <= time.monotonic()
    assert message.received_at.tzinfo is not None
    assert service.attempts(subscription)[-1].delivered


def test_absent_urgency_and_topic_are_recorded_as_none(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    send(subscription, session, vapid, ttl=0)

    [message] = service.messages(subscription)
    assert (message.ttl, message.urgency, message.topic) == (0, None, None)


def test_messages_are_kept_per_subscription(
    service: FakePushService, session: requests.Session, vapid: Vapid01
) -> None:
    first, second = service.new_subscription(), service.new_subscription()
    send(first, session, vapid, "one")
    send(second, session, vapid, "two")
    send(first, session, vapid, "three")

    assert [message.text() for message in service.messages(first)] == ["one", "three"]
    assert [message.text() for message in service.messages(second["endpoint"])] == ["two"]
    assert [message.text() for message in service.messages()][-3:] == ["one", "two", "three"]


def test_largest_payload_that_fits_4096_bytes_is_delivered(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    # aes128gcm adds an 86-byte header, a 1-byte delimiter and a 16-byte tag: 3993 bytes fit.
    assert send(subscription, session, vapid, "x" * 3993).status_code == 201

    with pytest.raises(WebPushException) as refused:
        send(subscription, session, vapid, "x" * 3994)
    assert refused.value.status_code == 413
    assert [message.plaintext for message in service.messages(subscription)] == [b"x" * 3993]


def test_push_without_payload_is_accepted(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    assert send(subscription, session, vapid, None).status_code == 201
    assert service.messages(subscription)[0].plaintext == b""


def test_wait_for_messages_times_out_with_the_rejections(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    raw_push(service, subscription, session, vapid, headers={"TTL": None})

    with pytest.raises(TimeoutError, match="missing TTL"):
        service.wait_for_messages(1, subscription, timeout=0.05)


# ------------------------------------------------------------------------------------------------
# What a push service refuses


def test_a_well_formed_raw_request_is_delivered(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    """The baseline the rejection cases below change one thing of."""
    assert raw_push(service, subscription, session, vapid).status_code == 201
    assert service.messages(subscription)[0].json() == {"kind": "footage_request"}


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"TTL": None}, 400, "missing TTL"),
        ({"TTL": "-1"}, 400, "TTL must be"),
        ({"TTL": "soon"}, 400, "TTL must be"),
        ({"Urgency": "urgent"}, 400, "Urgency must be"),
        ({"Topic": "t" * 33}, 400, "Topic must be"),
        ({"Topic": "no spaces"}, 400, "Topic must be"),
        ({"Content-Encoding": None}, 415, "aes128gcm"),
        ({"Content-Encoding": "aesgcm"}, 415, "aes128gcm"),
        ({"Authorization": None}, 401, "missing Authorization"),
        ({"Authorization": "Bearer abc"}, 401, "scheme must be vapid"),
        ({"Authorization": "vapid t=not.a.jwt, k=abc"}, 401, "k is not"),
        ({"Authorization": "vapid k=abc"}, 401, "both t="),
    ],
)
def test_malformed_headers_are_refused(
    service: FakePushService,
    session: requests.Session,
    vapid: Vapid01,
    subscription: dict[str, Any],
    headers: dict[str, str | None],
    status: int,
    reason: str,
) -> None:
    response = raw_push(service, subscription, session, vapid, headers=headers)

    assert response.status_code == status, response.text
    assert reason in response.json()["reason"]
    assert service.messages(subscription) == []
    [rejection] = service.rejections(subscription)
    assert rejection.status == status


def test_body_over_4096_bytes_is_refused_with_413(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    response = raw_push(service, subscription, session, vapid, body=os.urandom(4097))

    assert response.status_code == 413
    assert "4097 bytes" in response.json()["reason"]


def test_body_that_does_not_decrypt_is_refused(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    body = bytearray(WebPusher(subscription).encode(b"hello")["body"])
    body[-1] ^= 0x01  # flip a bit of the GCM tag

    response = raw_push(service, subscription, session, vapid, body=bytes(body))

    assert response.status_code == 400
    assert "decrypt" in response.json()["reason"]


def test_payload_encrypted_for_another_subscription_is_refused(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    body = WebPusher(service.new_subscription()).encode(b"hello")["body"]

    assert raw_push(service, subscription, session, vapid, body=body).status_code == 400


def test_signature_by_another_key_is_refused(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    impostor = Vapid()
    impostor.generate_keys()
    token = impostor.sign({"sub": CONTACT, "aud": service.origin, "exp": int(time.time()) + 3600})
    jwt = token["Authorization"].split("t=")[1].split(",")[0]
    forged = f"vapid t={jwt}, k={public_key_b64url(vapid)}"

    response = raw_push(service, subscription, session, vapid, headers={"Authorization": forged})

    assert response.status_code == 401
    assert "signature" in response.json()["reason"]


def test_draft_vapid_scheme_is_refused(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    draft = Vapid01(private_key=vapid.private_key)
    headers = draft.sign({"sub": CONTACT, "aud": service.origin, "exp": int(time.time()) + 3600})

    response = raw_push(service, subscription, session, vapid, headers=headers)

    assert response.status_code == 401
    assert "scheme must be vapid" in response.json()["reason"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://push.example.net"}, "aud must be"),
        ({"aud": "https://127.0.0.1"}, "aud must be"),
        ({"exp": int(time.time()) + 25 * 3600}, "24 hours"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"exp": "tomorrow"}, "exp must be an integer"),
        ({"sub": "mailto:ops@localhost"}, "local address"),
        ({"sub": "https://localhost"}, "local address"),
        ({"sub": "https://127.0.0.1"}, "local address"),
        ({"sub": "ops@porchlight.example"}, "mailto: or https:"),
        ({"sub": "http://porchlight.example"}, "mailto: or https:"),
    ],
)
def test_invalid_vapid_claims_are_refused(
    service: FakePushService,
    session: requests.Session,
    vapid: Vapid01,
    subscription: dict[str, Any],
    claims: dict[str, Any],
    reason: str,
) -> None:
    response = raw_push(service, subscription, session, vapid, claims=claims)

    assert response.status_code == 403, response.text
    assert reason in response.json()["reason"]
    assert service.messages(subscription) == []


def test_https_contact_is_accepted(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    response = send(subscription, session, vapid, vapid_claims={"sub": "https://porchlight.example"})

    assert response.status_code == 201


def test_unknown_subscription_is_404(service: FakePushService, session: requests.Session, vapid: Vapid01) -> None:
    subscription = service.new_subscription()
    unknown = {**subscription, "endpoint": f"{service.origin}/push/no-such-id"}

    with pytest.raises(WebPushException) as refused:
        send(unknown, session, vapid)

    assert refused.value.status_code == 404
    assert service.rejections("no-such-id")[-1].status == 404


def test_subscription_restricted_to_an_application_server_key(
    service: FakePushService, session: requests.Session, vapid: Vapid01
) -> None:
    subscription = service.new_subscription(application_server_key=public_key_b64url(vapid))
    other = Vapid()
    other.generate_keys()

    assert send(subscription, session, vapid).status_code == 201
    with pytest.raises(WebPushException) as refused:
        send(subscription, session, other)
    assert refused.value.status_code == 403


# ------------------------------------------------------------------------------------------------
# Faults on demand


@pytest.mark.parametrize(("status", "retry_after"), [(413, None), (429, 7), (500, None)])
def test_fault_answers_for_the_given_number_of_requests_then_recovers(
    service: FakePushService,
    session: requests.Session,
    vapid: Vapid01,
    subscription: dict[str, Any],
    status: int,
    retry_after: int | None,
) -> None:
    service.fail(subscription, status, times=2, retry_after=retry_after)

    for _ in range(2):
        with pytest.raises(WebPushException) as refused:
            send(subscription, session, vapid)
        assert refused.value.status_code == status
        assert refused.value.retry_after == (None if retry_after is None else str(retry_after))
    assert send(subscription, session, vapid, "after the fault").status_code == 201

    assert [message.text() for message in service.messages(subscription)] == ["after the fault"]
    assert [attempt.status for attempt in service.attempts(subscription)] == [status, status, 201]
    assert [attempt.retry_after for attempt in service.rejections(subscription)] == [retry_after] * 2


def test_fault_without_times_lasts_until_cleared(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    service.fail(subscription["endpoint"], 500)
    for _ in range(3):
        with pytest.raises(WebPushException):
            send(subscription, session, vapid)

    service.clear_faults(subscription)

    assert send(subscription, session, vapid).status_code == 201
    assert len(service.rejections(subscription)) == 3


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_stays_gone(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any], status: int
) -> None:
    service.fail(subscription, status)
    service.clear_faults(subscription)

    for _ in range(3):
        with pytest.raises(WebPushException) as refused:
            send(subscription, session, vapid)
        assert refused.value.status_code == status
    assert service.messages(subscription) == []
    with pytest.raises(ValueError, match="gone"):
        service.fail(subscription, status, times=1)


def test_reset_forgets_messages_and_faults(vapid: Vapid01) -> None:
    with FakePushService.running() as own:
        own_session = own.requests_session()
        delivered, gone = own.new_subscription(), own.new_subscription()
        send(delivered, own_session, vapid)
        own.fail(gone, 410)

        own.reset()

        assert own.messages() == [] and own.attempts() == []
        assert send(gone, own_session, vapid).status_code == 201


def test_hang_makes_the_client_time_out_then_recovers(
    service: FakePushService, session: requests.Session, vapid: Vapid01, subscription: dict[str, Any]
) -> None:
    service.hang(subscription, times=1)

    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        send(subscription, session, vapid, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 2

    assert send(subscription, session, vapid, "answered").status_code == 201
    assert [attempt.status for attempt in service.attempts(subscription)] == [None, 201]
    assert [message.text() for message in service.messages(subscription)] == ["answered"]


def test_unknown_subscription_cannot_be_configured(service: FakePushService) -> None:
    with pytest.raises(KeyError):
        service.fail("no-such-id", 500)


# ------------------------------------------------------------------------------------------------
# Async use, the development endpoints and the command line


async def test_async_service_with_pywebpush_async(vapid: Vapid01) -> None:
    async with FakePushService.serving() as service:
        subscription = service.new_subscription()
        connector = aiohttp.TCPConnector(ssl=service.client_ssl_context())
        async with aiohttp.ClientSession(connector=connector) as client:
            response = await webpush_async(
                subscription,
                '{"kind": "share_now"}',
                vapid_private_key=vapid,
                vapid_claims={"sub": CONTACT},
                ttl=30,
                headers={"Urgency": "high"},
                aiohttp_session=client,
                timeout=5,
            )
            assert response.status == 201

            service.fail(subscription, 429, times=1, retry_after=3)
            with pytest.raises(WebPushException) as refused:
                await webpush_async(
                    subscription,
                    "x",
                    vapid_private_key=vapid,
                    vapid_claims={"sub": CONTACT},
                    ttl=30,
                    aiohttp_session=client,
                    timeout=5,
                )
            assert (refused.value.status_code, refused.value.retry_after) == (429, "3")

        [message] = await service.wait_for_messages_async(1, subscription, timeout=1)
        assert message.json() == {"kind": "share_now"}
        assert message.urgency == "high"


def test_development_endpoints(service: FakePushService, session: requests.Session, vapid: Vapid01) -> None:
    created = session.post(f"{service.origin}/subscriptions", timeout=5)
    assert created.status_code == 201
    subscription = created.json()
    send(subscription, session, vapid, "hello")

    listed = session.get(f"{subscription['endpoint'].replace('/push/', '/subscriptions/')}/messages", timeout=5)
    assert [message["text"] for message in listed.json()] == ["hello"]
    assert session.get(f"{service.origin}/stats", timeout=5).json()["delivered"] >= 1

    many = session.post(f"{service.origin}/subscriptions", params={"count": 3}, timeout=5).json()
    assert len({s["endpoint"] for s in many}) == 3
    send(many[2], session, vapid, "one of many")
    assert session.post(f"{service.origin}/subscriptions", params={"count": 1001}, timeout=5).status_code == 400


def test_command_line_serves_and_prints_how_to_use_it(tmp_path: Path, vapid: Vapid01) -> None:
    command = [sys.executable, "-m", "push.fake_service", "--port", "0", "--cert-dir", str(tmp_path)]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            origin = process.stdout.readline().split()[-1]
            assert origin.startswith("https://127.0.0.1:")
            assert "curl --cacert" in process.stdout.readline() + process.stdout.readline()
            with requests.Session() as client:
                client.trust_env = False
                client.verify = str(tmp_path / "ca.pem")
                subscription = client.post(f"{origin}/subscriptions", timeout=5).json()
                assert send(subscription, client, vapid).status_code == 201
        finally:
            process.terminate()
        assert process.wait(timeout=5) == 0
