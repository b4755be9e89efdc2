"""A small RFC 8030 push service for tests, benchmarks and local development.

It checks what real push services check (TTL, Urgency, Topic, size, aes128gcm, VAPID per RFC 8292),
decrypts like a browser (RFC 8291), records what it received, and misbehaves on demand (404/410 gone,
413, 429 with Retry-After, 500, or no answer at all).

    with FakePushService.running() as service:
        subscription = service.new_subscription()        # PushSubscription.toJSON() shape
        ...send with pywebpush, trusting service.ca_file...
        [message] = service.messages(subscription)
        message.json()

Run `python -m push.fake_service --port 8443` for local development.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import datetime
import ipaddress
import itertools
import json
import logging
import re
import secrets
import shutil
import signal
import ssl
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from push.tls import LoopbackCertificate, write_loopback_certificate

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096  # RFC 8291 section 4: push services need only accept 4096-byte bodies
MAX_JWT_LIFETIME_SECONDS = 24 * 60 * 60  # RFC 8292 section 2
URGENCIES = ("very-low", "low", "normal", "high")  # RFC 8030 section 5.3
GONE_STATUSES = (404, 410)

_TTL = re.compile(r"[0-9]+")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_VERIFIED_TOKEN_CACHE_SIZE = 1024

SubscriptionRef = str | Mapping[str, Any]
"""A subscription as the id, its endpoint URL, or the dict `new_subscription()` returned."""


@dataclass(frozen=True)
class PushMessage:
    """A push message the service accepted (201) and decrypted."""

    message_id: str
    subscription_id: str
    endpoint: str
    plaintext: bytes
    ttl: int
    urgency: str | None  # the header as sent; None when absent (which RFC 8030 reads as "normal")
    topic: str | None
    vapid_claims: dict[str, Any]
    vapid_public_key: str  # base64url of the 65-byte uncompressed P-256 point, as sent in `k=`
    received_monotonic: float  # time.monotonic() on arrival
    received_at: datetime.datetime  # aware UTC wall clock on arrival

    def text(self) -> str:
        return self.plaintext.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.plaintext)


@dataclass(frozen=True)
class PushAttempt:
    """Any request to a push endpoint, delivered or not: the record tests count retries with."""

    subscription_id: str
    status: int | None  # None: the service hung and never answered
    reason: str
    received_monotonic: float
    retry_after: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status == 201


class PushRejected(Exception):
    """A request failed one of the push service's checks."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass
class _Fault:
    status: int | None  # None means hang
    remaining: int | None  # None means until cleared
    retry_after: int | None = None


@dataclass
class _Subscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    public_key: bytes
    auth_secret: bytes
    application_server_key: bytes | None
    gone_status: int | None = None
    fault: _Fault | None = None
    received: list[PushMessage] = field(default_factory=list)


class FakePushService:
    """An HTTPS push service on loopback. Thread-safe: tests may call it from any thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, cert_dir: Path | str | None = None) -> None:
        """`port=0` picks a free port. `cert_dir` keeps the CA/server PEM files there (default: a temporary
        directory removed on stop)."""
        self._host = host
        self._requested_port = port
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._lock = threading.Condition()
        self._subscriptions: dict[str, _Subscription] = {}
        self._messages: list[PushMessage] = []
        self._attempts: list[PushAttempt] = []
        self._message_ids = itertools.count(1)
        self._verified_tokens: dict[tuple[str, str], dict[str, Any]] = {}
        self._public_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._runner: web.AppRunner | None = None
        self._temporary_dir: Path | None = None
        self._certificate: LoopbackCertificate | None = None
        self._port: int | None = None
        self._stopping: asyncio.Event | None = None
        # Server-side connections, aborted at stop: a TLS close would wait for the client's close_notify.
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    # ----------------------------------------------------------------------------------------------
    # Lifecycle

    @property
    def origin(self) -> str:
        """`https://host:port`: the `aud` every VAPID token must carry."""
        if self._port is None:
            raise RuntimeError("the fake push service is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake push service is not running")
        return self._port

    @property
    def ca_file(self) -> str:
        """Path of the PEM CA certificate clients must trust (`requests`: `session.verify = service.ca_file`)."""
        if self._certificate is None:
            raise RuntimeError("the fake push service is not running")
        return str(self._certificate.ca_file)

    def client_ssl_context(self) -> ssl.SSLContext:
        """A new client SSLContext trusting the service (aiohttp: `TCPConnector(ssl=...)`)."""
        if self._certificate is None:
            raise RuntimeError("the fake push service is not running")
        return self._certificate.client_context()

    def requests_session(self) -> requests.Session:
        """A `requests` session trusting the service, for `pywebpush.webpush(..., requests_session=...)`.

        It sets `trust_env = False` because requests lets `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` from the
        environment override `session.verify`.
        """
        import requests  # pywebpush's transport; imported here so the service itself does not need it

        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file
        return session

    async def start(self) -> None:
        """Start serving on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the fake push service is already running")
        if self._cert_dir is None:
            self._temporary_dir = Path(tempfile.mkdtemp(prefix="fake-push-"))
            cert_dir = self._temporary_dir
        else:
            cert_dir = self._cert_dir
        self._certificate = write_loopback_certificate(cert_dir)
        self._stopping = asyncio.Event()

        app = web.Application(client_max_size=1024 * 1024, middlewares=[self._track_connection])
        app.router.add_post("/push/{subscription_id}", self._handle_push)
        app.router.add_post("/subscriptions", self._handle_create_subscription)
        app.router.add_get("/subscriptions/{subscription_id}/messages", self._handle_list_messages)
        app.router.add_get("/stats", self._handle_stats)
        # handler_cancellation: a client that gives up on a hung request frees its handler.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(
            runner,
            self._host,
            self._requested_port,
            ssl_context=self._certificate.server_context(),
            backlog=1024,
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            self._remove_temporary_dir()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        logger.info("fake push service listening on %s", self.origin)

    async def stop(self) -> None:
        """Stop serving; hung requests are released. Recorded messages stay readable."""
        if self._stopping is not None:
            self._stopping.set()
        # Abort before the graceful cleanup: a closed TLS transport ignores abort() (CPython sslproto).
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        await asyncio.sleep(0)  # abort() closes the socket on the next loop iteration
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._remove_temporary_dir()

    async def __aenter__(self) -> FakePushService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **options: Any) -> Iterator[FakePushService]:
        """Run a service on its own event loop in a background thread (options as for the constructor)."""
        service = cls(**options)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(service.start())
            except BaseException as error:  # reported to the caller's thread below
                failures.append(error)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(service.stop())
                loop.close()

        thread = threading.Thread(target=serve, name="fake-push-service", daemon=True)
        thread.start()
        started.wait()
        if failures:
            raise failures[0]
        try:
            yield service
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    @classmethod
    @contextlib.asynccontextmanager
    async def serving(cls, **options: Any) -> AsyncIterator[FakePushService]:
        """Run a service on the current event loop: `async with FakePushService.serving() as service:`."""
        async with cls(**options) as service:
            yield service

    def _remove_temporary_dir(self) -> None:
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None

    # ----------------------------------------------------------------------------------------------
    # Subscriptions, messages and faults (the test-facing API)

    def new_subscription(self, *, application_server_key: str | bytes | None = None) -> dict[str, Any]:
        """Subscribe like a browser: a fresh P-256 key pair and 16-byte auth secret.

        Returns `PushSubscription.toJSON()`: `{"endpoint", "expirationTime": None, "keys": {"p256dh", "auth"}}`.
        With `application_server_key` (base64url or raw 65 bytes, as given to `pushManager.subscribe`), only
        pushes signed by that VAPID key are accepted (403 otherwise), as browsers' push services do.
        """
        private_key = ec.generate_private_key(ec.SECP256R1())
        public_key = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth_secret = secrets.token_bytes(16)
        restricted_to = None
        if application_server_key is not None:
            restricted_to = (
                application_server_key
                if isinstance(application_server_key, bytes)
                else _b64url_decode(application_server_key)
            )
            if len(restricted_to) != 65 or restricted_to[0] != 4:
                raise ValueError("application_server_key must be a 65-byte uncompressed P-256 point")
        subscription_id = secrets.token_urlsafe(16)
        subscription = _Subscription(
            id=subscription_id,
            endpoint=f"{self.origin}/push/{subscription_id}",
            private_key=private_key,
            public_key=public_key,
            auth_secret=auth_secret,
            application_server_key=restricted_to,
        )
        with self._lock:
            self._subscriptions[subscription_id] = subscription
        return {
            "endpoint": subscription.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": _b64url_encode(public_key), "auth": _b64url_encode(auth_secret)},
        }

    def messages(self, subscription: SubscriptionRef | None = None) -> list[PushMessage]:
        """Delivered messages in arrival order, for one subscription or all."""
        with self._lock:
            if subscription is None:
                return list(self._messages)
            return list(self._subscription(subscription).received)

    def attempts(self, subscription: SubscriptionRef | None = None) -> list[PushAttempt]:
        """Every request to a push endpoint (delivered, rejected, faulted or hung), in arrival order."""
        with self._lock:
            if subscription is None:
                return list(self._attempts)
            subscription_id = self._subscription_id(subscription)
            return [attempt for attempt in self._attempts if attempt.subscription_id == subscription_id]

    def rejections(self, subscription: SubscriptionRef | None = None) -> list[PushAttempt]:
        """The attempts that were not delivered: failed checks, configured faults and hangs."""
        return [attempt for attempt in self.attempts(subscription) if not attempt.delivered]

    def wait_for_messages(
        self, count: int, subscription: SubscriptionRef | None = None, *, timeout: float = 5.0
    ) -> list[PushMessage]:
        """Block until at least `count` messages arrived (for `subscription` or all); return them all.

        Raises TimeoutError. From a coroutine use `wait_for_messages_async` (this one blocks the loop).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._messages if subscription is None else self._subscription(subscription).received
                if len(found) >= count:
                    return list(found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(count, len(found)))
                self._lock.wait(remaining)

    async def wait_for_messages_async(
        self, count: int, subscription: SubscriptionRef | None = None, *, timeout: float = 5.0
    ) -> list[PushMessage]:
        """`wait_for_messages` for coroutines: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(subscription)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(count, len(found)))
            await asyncio.sleep(0.005)

    def fail(
        self,
        subscription: SubscriptionRef,
        status: int,
        *,
        times: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer `status` instead of delivering, for the next `times` requests (None: until cleared).

        404 and 410 mean the subscription is gone: it answers that from now on, whatever `clear_faults`
        says, so `times` is refused for them. `retry_after` (seconds) is sent as `Retry-After`.
        Replaces any earlier fault on the subscription.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"a fault status must be 4xx or 5xx, not {status}")
        if status in GONE_STATUSES and times is not None:
            raise ValueError(f"{status} marks the subscription gone for good; `times` does not apply")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until cleared)")
        with self._lock:
            target = self._subscription(subscription)
            if status in GONE_STATUSES:
                target.gone_status = status
                target.fault = None
            else:
                target.fault = _Fault(status=status, remaining=times, retry_after=retry_after)

    def hang(self, subscription: SubscriptionRef, *, times: int | None = None) -> None:
        """Never answer the next `times` requests (None: until cleared); the client's timeout ends them."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until cleared)")
        with self._lock:
            self._subscription(subscription).fault = _Fault(status=None, remaining=times)

    def clear_faults(self, subscription: SubscriptionRef) -> None:
        """Deliver normally again. A gone (404/410) subscription stays gone."""
        with self._lock:
            self._subscription(subscription).fault = None

    def reset(self) -> None:
        """Forget recorded messages and attempts and every fault (gone subscriptions answer again)."""
        with self._lock:
            self._messages.clear()
            self._attempts.clear()
            for subscription in self._subscriptions.values():
                subscription.received.clear()
                subscription.fault = None
                subscription.gone_status = None

    def _subscription_id(self, subscription: SubscriptionRef) -> str:
        if isinstance(subscription, Mapping):
            subscription = subscription["endpoint"]
        if "/" in subscription:
            return subscription.rstrip("/").rsplit("/", 1)[-1]
        return subscription

    def _subscription(self, subscription: SubscriptionRef) -> _Subscription:
        subscription_id = self._subscription_id(subscription)
        try:
            return self._subscriptions[subscription_id]
        except KeyError:
            raise KeyError(f"no subscription {subscription_id!r} on this fake push service") from None

    def _timeout_message(self, expected: int, found: int) -> str:
        rejected = [f"{attempt.status} {attempt.reason}" for attempt in self.rejections()[-5:]]
        return f"expected {expected} push messages, got {found}; last rejections: {rejected or 'none'}"

    # ----------------------------------------------------------------------------------------------
    # HTTP

    @web.middleware
    async def _track_connection(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.transport is not None:
            self._transports.add(request.transport)
        return await handler(request)

    async def _handle_push(self, request: web.Request) -> web.StreamResponse:
        subscription_id = request.match_info["subscription_id"]
        arrived = time.monotonic()
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
            gone_status = subscription.gone_status if subscription is not None else None
            fault = self._take_fault(subscription) if subscription is not None else None
        if subscription is None:
            return self._reject(subscription_id, arrived, 404, "no such subscription")
        if gone_status is not None:
            return self._reject(subscription_id, arrived, gone_status, "subscription expired or gone")
        if fault is not None:
            if fault.status is None:
                return await self._hang(subscription_id, arrived)
            return self._reject(
                subscription_id, arrived, fault.status, "fault configured by the test", retry_after=fault.retry_after
            )
        try:
            message = await self._accept(request, subscription, arrived)
        except PushRejected as rejection:
            return self._reject(subscription_id, arrived, rejection.status, rejection.reason)
        with self._lock:
            self._messages.append(message)
            subscription.received.append(message)
            self._attempts.append(PushAttempt(subscription_id, 201, "delivered", arrived))
            self._lock.notify_all()
        logger.info(
            "201 %s: %d bytes, ttl=%d, urgency=%s",
            subscription_id,
            len(message.plaintext),
            message.ttl,
            message.urgency,
        )
        return web.Response(
            status=201,
            headers={"Location": f"{self.origin}/message/{message.message_id}", "TTL": str(message.ttl)},
        )

    def _take_fault(self, subscription: _Subscription) -> _Fault | None:
        fault = subscription.fault
        if fault is None or subscription.gone_status is not None:
            return None
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                subscription.fault = None
        return fault

    async def _accept(self, request: web.Request, subscription: _Subscription, arrived: float) -> PushMessage:
        headers = request.headers
        ttl_header = headers.get("TTL")
        if ttl_header is None:
            raise PushRejected(400, "missing TTL header (RFC 8030 section 5.2)")
        if not _TTL.fullmatch(ttl_header):
            raise PushRejected(400, f"TTL must be a non-negative integer number of seconds, not {ttl_header!r}")
        urgency = headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise PushRejected(400, f"Urgency must be one of {', '.join(URGENCIES)}, not {urgency!r}")
        topic = headers.get("Topic")
        if topic is not None and not _TOPIC.fullmatch(topic):
            raise PushRejected(400, "Topic must be 1 to 32 characters of the base64url alphabet")

        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PushRejected(413, f"body is over 1 MiB; push services accept at most {MAX_BODY_BYTES}") from None
        if len(body) > MAX_BODY_BYTES:
            raise PushRejected(413, f"body is {len(body)} bytes; push services accept at most {MAX_BODY_BYTES}")
        encoding = headers.get("Content-Encoding")
        if body and encoding != "aes128gcm":
            raise PushRejected(415, f"Content-Encoding must be aes128gcm (RFC 8291), not {encoding!r}")

        claims, vapid_key = self._check_vapid(headers.get("Authorization"), subscription)

        if body:
            try:
                plaintext = http_ece.decrypt(
                    body,
                    private_key=subscription.private_key,
                    auth_secret=subscription.auth_secret,
                    version="aes128gcm",
                )
            except Exception as error:  # http_ece raises ECEException, ValueError, InvalidTag...
                raise PushRejected(400, f"cannot decrypt the aes128gcm body: {error!r}") from None
        else:
            plaintext = b""  # RFC 8030 allows a push without payload
        with self._lock:
            message_id = str(next(self._message_ids))
        return PushMessage(
            message_id=message_id,
            subscription_id=subscription.id,
            endpoint=subscription.endpoint,
            plaintext=plaintext,
            ttl=int(ttl_header),
            urgency=urgency,
            topic=topic,
            vapid_claims=claims,
            vapid_public_key=vapid_key,
            received_monotonic=arrived,
            received_at=datetime.datetime.now(datetime.UTC),
        )

    def _check_vapid(self, authorization: str | None, subscription: _Subscription) -> tuple[dict[str, Any], str]:
        """RFC 8292: `Authorization: vapid t=<JWT>, k=<key>`. Returns the claims and `k`."""
        if not authorization:
            raise PushRejected(401, "missing Authorization: vapid t=<JWT>, k=<public key> (RFC 8292)")
        scheme, _, parameters = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise PushRejected(401, f"Authorization scheme must be vapid (RFC 8292), not {scheme!r}")
        values: dict[str, str] = {}
        for part in parameters.split(","):
            name, equals, value = part.strip().partition("=")
            if equals:
                values[name.strip().lower()] = value.strip()
        token, key = values.get("t"), values.get("k")
        if not token or not key:
            raise PushRejected(401, "Authorization must carry both t=<JWT> and k=<public key>")

        claims = self._verified_tokens.get((token, key))
        if claims is None:
            claims = self._verify_jwt(token, key)
            with self._lock:
                if len(self._verified_tokens) >= _VERIFIED_TOKEN_CACHE_SIZE:
                    self._verified_tokens.clear()
                self._verified_tokens[(token, key)] = claims

        restricted_to = subscription.application_server_key
        if restricted_to is not None and _b64url_decode(key) != restricted_to:
            raise PushRejected(403, "VAPID key k differs from the applicationServerKey the subscription was made with")
        aud = claims.get("aud")
        if aud != self.origin:
            raise PushRejected(403, f"JWT aud must be the push service origin {self.origin!r}, not {aud!r}")
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise PushRejected(403, "JWT exp must be an integer (seconds since the epoch)")
        now = time.time()
        if exp <= now:
            raise PushRejected(403, f"JWT expired {int(now - exp)} s ago")
        if exp > now + MAX_JWT_LIFETIME_SECONDS:
            raise PushRejected(403, "JWT exp is more than 24 hours ahead (RFC 8292 section 2)")
        problem = _sub_problem(claims.get("sub"))
        if problem is not None:
            raise PushRejected(403, problem)
        return claims, key

    def _verify_jwt(self, token: str, key: str) -> dict[str, Any]:
        public_key = self._public_keys.get(key)
        if public_key is None:
            try:
                raw_key = _b64url_decode(key)
                if len(raw_key) != 65 or raw_key[0] != 4:
                    raise ValueError("not a 65-byte uncompressed point")
                public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
            except ValueError as error:
                raise PushRejected(401, f"k is not a base64url P-256 public key: {error}") from None
            self._public_keys[key] = public_key
        pieces = token.split(".")
        if len(pieces) != 3:
            raise PushRejected(401, "t is not a JWT (header.claims.signature)")
        try:
            header = json.loads(_b64url_decode(pieces[0]))
            claims = json.loads(_b64url_decode(pieces[1]))
            signature = _b64url_decode(pieces[2])
        except ValueError as error:
            raise PushRejected(401, f"t is not a well-formed JWT: {error}") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256":
            raise PushRejected(401, "JWT alg must be ES256")
        if not isinstance(claims, dict):
            raise PushRejected(401, "JWT claims must be a JSON object")
        if len(signature) != 64:
            raise PushRejected(401, "ES256 signature must be 64 bytes (r || s)")
        der_signature = utils.encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public_key.verify(der_signature, f"{pieces[0]}.{pieces[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PushRejected(401, "JWT signature does not verify with the key k") from None
        return claims

    async def _hang(self, subscription_id: str, arrived: float) -> web.StreamResponse:
        with self._lock:
            self._attempts.append(PushAttempt(subscription_id, None, "hung by the test", arrived))
        assert self._stopping is not None
        await self._stopping.wait()  # cancelled when the client disconnects
        return web.Response(status=503, text="fake push service stopping")

    def _reject(
        self, subscription_id: str, arrived: float, status: int, reason: str, *, retry_after: int | None = None
    ) -> web.Response:
        with self._lock:
            self._attempts.append(PushAttempt(subscription_id, status, reason, arrived, retry_after))
        logger.info("%d %s: %s", status, subscription_id, reason)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response({"status": status, "reason": reason}, status=status, headers=headers)

    async def _handle_create_subscription(self, request: web.Request) -> web.Response:
        """Development aid: `POST /subscriptions` (optional JSON {"applicationServerKey": ...}); with `?count=N`
        (1 to 1,000), a list of N subscriptions at once (benchmarks subscribe 100,000 browsers)."""
        if "count" in request.query:
            count = request.query["count"]
            if not count.isdigit() or not 1 <= int(count) <= 1000:
                return web.json_response({"status": 400, "reason": "count must be 1 to 1000"}, status=400)
            return web.json_response([self.new_subscription() for _ in range(int(count))], status=201)
        application_server_key = None
        if request.can_read_body:
            try:
                application_server_key = (await request.json()).get("applicationServerKey")
                subscription = self.new_subscription(application_server_key=application_server_key)
            except (ValueError, AttributeError) as error:
                return web.json_response({"status": 400, "reason": str(error)}, status=400)
        else:
            subscription = self.new_subscription()
        return web.json_response(subscription, status=201)

    async def _handle_list_messages(self, request: web.Request) -> web.Response:
        """Development aid: `GET /subscriptions/{id}/messages`."""
        try:
            messages = self.messages(request.match_info["subscription_id"])
        except KeyError as error:
            return web.json_response({"status": 404, "reason": str(error)}, status=404)
        return web.json_response([_describe(message) for message in messages])

    async def _handle_stats(self, request: web.Request) -> web.Response:
        """Development aid: `GET /stats`, attempts counted by status ("hung" for no answer)."""
        counts: dict[str, int] = {}
        for attempt in self.attempts():
            status = "hung" if attempt.status is None else str(attempt.status)
            counts[status] = counts.get(status, 0) + 1
        return web.json_response({"delivered": counts.get("201", 0), "attempts_by_status": counts})


def _describe(message: PushMessage) -> dict[str, Any]:
    try:
        text: str | None = message.text()
    except UnicodeDecodeError:
        text = None
    return {
        "message_id": message.message_id,
        "text": text,
        "plaintext_base64url": _b64url_encode(message.plaintext),
        "ttl": message.ttl,
        "urgency": message.urgency,
        "topic": message.topic,
        "vapid_claims": message.vapid_claims,
        "vapid_public_key": message.vapid_public_key,
        "received_at": message.received_at.isoformat(),
    }


def _sub_problem(sub: object) -> str | None:
    """Why a JWT `sub` would be refused, or None. Apple's service refuses localhost contacts."""
    if not isinstance(sub, str):
        return "JWT sub must be a mailto: or https: URI"
    if sub.startswith("mailto:"):
        local, at, host = sub.removeprefix("mailto:").rpartition("@")
        if not at or not local or not host:
            return f"JWT sub {sub!r} is not a mailto: address"
    elif sub.startswith("https:"):
        host = urlsplit(sub).hostname or ""
        if not host:
            return f"JWT sub {sub!r} has no host"
    else:
        return f"JWT sub must start with mailto: or https:, not {sub!r}"
    if _is_local_host(host):
        return f"JWT sub {sub!r} names a local address; push services need a contact they can reach"
    return None


def _is_local_host(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except binascii.Error as error:
        raise ValueError(str(error)) from None


# --------------------------------------------------------------------------------------------------
# python -m push.fake_service


async def _serve_forever(host: str, port: int, cert_dir: Path | None) -> None:
    async with FakePushService(host=host, port=port, cert_dir=cert_dir) as service:
        print(f"Fake push service at {service.origin}", flush=True)
        print(f"Trust its CA: {service.ca_file}  (e.g. REQUESTS_CA_BUNDLE / SSL_CERT_FILE)", flush=True)
        curl = f"curl --cacert {service.ca_file}"
        print(f"New subscription:  {curl} -X POST {service.origin}/subscriptions", flush=True)
        print(f"Its messages:      {curl} {service.origin}/subscriptions/ID/messages", flush=True)
        print(f"Counts:            {curl} {service.origin}/stats", flush=True)
        stop = asyncio.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m push.fake_service", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert-dir", type=Path, default=None, help="keep the CA and server PEM files here")
    parser.add_argument("--quiet", action="store_true", help="log only problems, not every request")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if arguments.quiet else logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(_serve_forever(arguments.host, arguments.port, arguments.cert_dir))


if __name__ == "__main__":
    main()
