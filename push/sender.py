"""Sending one encrypted message to a push service (RFC 8030) and classifying the answer."""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass

import aiohttp
from pywebpush import WebPusher

from push.vapid import VapidSigner


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # the subscription no longer exists: delete it
    REFUSED = "refused"  # the recipient will never take this message (an email address refused): give up on it
    RETRY = "retry"  # try again later (with backoff, or after Retry-After)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    detail: str
    retry_after: float | None = None


def classify(status: int, retry_after_header: str | None) -> SendResult:
    """201 delivered; 429 wait as told; 408 and 5xx retry; any other 4xx means the subscription is gone."""
    if 200 <= status < 300:
        return SendResult(Outcome.DELIVERED, str(status))
    if status == 429:
        retry_after = None
        if retry_after_header and retry_after_header.strip().isdigit():
            retry_after = float(retry_after_header.strip())
        return SendResult(Outcome.RETRY, "429 rate limited", retry_after if retry_after is not None else 60.0)
    if status == 408 or status >= 500:
        return SendResult(Outcome.RETRY, f"push service answered {status}")
    return SendResult(Outcome.GONE, f"push service answered {status}")


def encrypt(endpoint: str, p256dh: str, auth: str, payload: bytes) -> bytes:
    """aes128gcm (RFC 8291) with pywebpush's implementation."""
    pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
    return pusher.encode(payload, content_encoding="aes128gcm")["body"]


class PushSender:
    """One shared connection pool and VAPID signer for every message; use as `async with`."""

    def __init__(
        self,
        signer: VapidSigner,
        *,
        timeout_seconds: float = 10.0,
        max_connections: int = 64,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._signer = signer
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_connections = max_connections
        self._ssl = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PushSender:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, endpoint: str, p256dh: str, auth: str, payload: bytes, *, ttl: int, urgency: str, topic: str | None
    ) -> SendResult:
        assert self._session is not None, "use PushSender as an async context manager"
        headers = {
            "TTL": str(ttl),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self._signer.authorization(endpoint),
        }
        if topic:
            headers["Topic"] = topic
        body = encrypt(endpoint, p256dh, auth, payload)
        try:
            async with self._session.post(endpoint, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                return classify(response.status, response.headers.get("Retry-After"))
        except TimeoutError:
            return SendResult(Outcome.RETRY, "timed out")
        except aiohttp.ClientError as exc:
            return SendResult(Outcome.RETRY, f"connection failed: {type(exc).__name__}")
