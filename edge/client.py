"""The device API (`/device/v1`) over httpx: pairing (RFC 8628), heartbeats, the desired-state long-poll, events,
and WHIP (RFC 9725) to publish live video while a share is on.

Every call turns what went wrong into one of three exceptions, so callers decide once what to do:
`ServerUnavailable` (try again later, with `Backoff`), `CredentialRevoked` (stop: pair again),
`RequestRejected` (the server refused this request; say why and go on).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from edge import __version__

CLIENT_ID = "porchlight-edge"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REQUEST_TIMEOUT_S = 10.0
# The server holds a long-poll up to 25 s; the client waits longer so the server's 204 arrives first.
LONG_POLL_TIMEOUT_S = 35.0
# RFC 8628 §3.5: on slow_down the interval grows by 5 seconds.
SLOW_DOWN_STEP_S = 5


class DeviceAPIError(Exception):
    """Something the device API call could not do. `kind` is a short stable name for one kind of failure."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class ServerUnavailable(DeviceAPIError):
    """Network down, timeout, 5xx or 429: worth trying again later."""

    def __init__(self, kind: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(kind, message)
        self.retry_after_s = retry_after_s


class CredentialRevoked(DeviceAPIError):
    """401: the device was removed (or its credential replaced); only pairing again helps."""


class RequestRejected(DeviceAPIError):
    """A 4xx other than 401: this request is wrong or too large; the detail says why."""


class WhipRefused(RequestRejected):
    """The relay refused to take a camera's video (403 no live share, 404, 410 the share ended, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"http-{status}", message)
        self.status = status


class PairingFailed(Exception):
    """Pairing ended without a credential (expired, denied); the message says what to do."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds always present, so every timestamp has the same shape."""
    return moment.isoformat(timespec="microseconds")


class Backoff:
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2**n)]."""

    def __init__(self, base_s: float = 1.0, cap_s: float = 60.0, jitter: bool = True, rng: random.Random | None = None):
        self.base_s = base_s
        self.cap_s = cap_s
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling

    def reset(self) -> None:
        self.failures = 0


def _problem_detail(response: httpx.Response) -> str:
    """The `detail` (or RFC 8628 `error_description`) of an error response, else its status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("detail", "error_description", "title", "error"):
            if body.get(name):
                return str(body[name])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what caused it (anyio hides "connection refused" under "all connection attempts failed")."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe_transport_error(error: httpx.TransportError) -> tuple[str, str]:
    if isinstance(error, httpx.TimeoutException):
        return "timeout", "the server did not answer in time"
    if isinstance(error, httpx.ConnectError):
        causes = _causes(error)
        text = " ".join(str(cause) for cause in causes).lower()
        if any(isinstance(cause, ConnectionRefusedError) for cause in causes) or "refused" in text:
            return "refused", "cannot reach the server (connection refused)"
        if "name" in text or "resolution" in text or "nodename" in text:
            return "dns", "cannot find the server's address (DNS)"
        return "connect", f"cannot connect to the server ({error or type(error).__name__})"
    return "network", f"network error talking to the server ({error or type(error).__name__})"


async def _send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures and server-side errors become ServerUnavailable."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError as error:
        kind, message = _describe_transport_error(error)
        raise ServerUnavailable(kind, message) from None
    if response.status_code >= 500 or response.status_code == 429:
        kind = "rate-limited" if response.status_code == 429 else f"http-{response.status_code}"
        raise ServerUnavailable(
            kind,
            f"the server answered {response.status_code}: {_problem_detail(response)}",
            retry_after_s=_retry_after(response),
        )
    return response


# --- pairing: RFC 8628 device authorization grant -------------------------------------------------------------


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float


@dataclass(frozen=True)
class PairedDevice:
    access_token: str
    device_id: str
    device_name: str
    site_name: str


async def start_device_authorization(http: httpx.AsyncClient, server: str) -> DeviceAuthorization:
    response = await _send(
        http,
        "POST",
        f"{server}/device/v1/device_authorization",
        data={"client_id": CLIENT_ID, "agent_version": __version__},
        timeout=REQUEST_TIMEOUT_S,
    )
    if response.status_code != 200:
        raise RequestRejected(f"http-{response.status_code}", _problem_detail(response))
    body = response.json()
    return DeviceAuthorization(
        device_code=body["device_code"],
        user_code=body["user_code"],
        verification_uri=body["verification_uri"],
        verification_uri_complete=body.get("verification_uri_complete") or body["verification_uri"],
        expires_in=float(body["expires_in"]),
        interval=float(body.get("interval", 5)),
    )


async def poll_for_token(
    http: httpx.AsyncClient,
    server: str,
    authorization: DeviceAuthorization,
    *,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wait_first: bool = True,
    on_network_error: Callable[[ServerUnavailable], None] | None = None,
) -> PairedDevice:
    """Poll the token endpoint until the owner approves (RFC 8628 §3.4-3.5). Network errors are retried with
    backoff until the code expires; `slow_down` adds 5 s to the interval for the rest of the polling."""
    deadline = clock() + authorization.expires_in
    interval = authorization.interval
    backoff = Backoff(base_s=1.0, cap_s=30.0)
    delay = interval if wait_first else 0.0
    while True:
        if delay:
            await sleep(delay)
        if clock() >= deadline:
            raise PairingFailed("The code expired; run pair again")
        delay = interval
        try:
            response = await _send(
                http,
                "POST",
                f"{server}/device/v1/token",
                data={
                    "grant_type": DEVICE_CODE_GRANT,
                    "device_code": authorization.device_code,
                    "client_id": CLIENT_ID,
                },
                timeout=REQUEST_TIMEOUT_S,
            )
        except ServerUnavailable as error:
            if on_network_error:
                on_network_error(error)
            delay = max(interval, backoff.next_delay())
            continue
        backoff.reset()
        if response.status_code == 200:
            body = response.json()
            return PairedDevice(
                access_token=body["access_token"],
                device_id=str(body["device_id"]),
                device_name=str(body.get("device_name") or ""),
                site_name=str(body.get("site_name") or ""),
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP_S
            delay = interval
            continue
        if error == "expired_token":
            raise PairingFailed("The code expired; run pair again")
        if error in ("access_denied", "invalid_grant"):
            raise PairingFailed(f"Pairing refused: {_problem_detail(response)}")
        raise PairingFailed(f"Pairing failed: {_problem_detail(response)}")


# --- the paired device's calls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhipSession:
    """A WHIP session the relay created: its resource (`DELETE` it to stop) and the SDP answer."""

    location: str
    answer_sdp: str


@dataclass(frozen=True)
class HeartbeatReply:
    heartbeat_interval_s: float | None
    server_time: datetime | None
    desired: dict[str, Any] | None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DeviceClient:
    """The calls a paired device makes, with its Bearer credential."""

    def __init__(self, server: str, credential: str, http: httpx.AsyncClient) -> None:
        self.server = server.rstrip("/")
        self.http = http
        self.headers = {"Authorization": f"Bearer {credential}", "User-Agent": f"porchlight-edge/{__version__}"}

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            raise CredentialRevoked("revoked", _problem_detail(response))
        if 400 <= response.status_code < 500:
            raise RequestRejected(f"http-{response.status_code}", _problem_detail(response))

    async def send_heartbeat(self, body: dict[str, Any]) -> HeartbeatReply:
        response = await _send(
            self.http,
            "POST",
            f"{self.server}/device/v1/heartbeat",
            json=body,
            headers=self.headers,
            timeout=REQUEST_TIMEOUT_S,
        )
        self._check(response)
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        interval = reply.get("heartbeat_interval_s")
        desired = reply.get("desired")
        return HeartbeatReply(
            heartbeat_interval_s=float(interval) if isinstance(interval, int | float) and interval > 0 else None,
            server_time=_parse_time(reply.get("server_time")),
            desired=desired if isinstance(desired, dict) else None,
        )

    async def wait_for_desired(self, version: int) -> dict[str, Any] | None:
        """The desired-state document when its version differs from `version`; None when the server's
        long-poll ended without a change (204)."""
        response = await _send(
            self.http,
            "GET",
            f"{self.server}/device/v1/desired",
            params={"version": version},
            headers=self.headers,
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, read=LONG_POLL_TIMEOUT_S),
        )
        self._check(response)
        if response.status_code == 204:
            return None
        document = response.json()
        return document if isinstance(document, dict) else None

    async def send_event(self, kind: str, detail: str, occurred_at: datetime) -> None:
        response = await _send(
            self.http,
            "POST",
            f"{self.server}/device/v1/events",
            json={"kind": kind, "occurred_at": iso(occurred_at), "detail": detail},
            headers=self.headers,
            timeout=REQUEST_TIMEOUT_S,
        )
        self._check(response)

    async def whip_publish(self, whip_url: str, offer_sdp: str) -> WhipSession:
        """POST an SDP offer to a WHIP endpoint (RFC 9725 §4.2); the session on 201 Created.

        401 is CredentialRevoked, any other 4xx WhipRefused (do not try again until the desired state changes),
        5xx, 429 and network failures ServerUnavailable (try again with backoff)."""
        url = urljoin(self.server + "/", whip_url)
        response = await _send(
            self.http,
            "POST",
            url,
            content=offer_sdp.encode(),
            headers={**self.headers, "Content-Type": "application/sdp"},
            timeout=REQUEST_TIMEOUT_S,
        )
        if response.status_code == 401:
            raise CredentialRevoked("revoked", _problem_detail(response))
        if 400 <= response.status_code < 500:
            raise WhipRefused(response.status_code, _problem_detail(response))
        location = response.headers.get("location")
        if response.status_code != 201 or not location or not response.text.strip():
            raise ServerUnavailable(
                "whip-answer", f"the relay answered {response.status_code} without a WHIP session and SDP answer"
            )
        return WhipSession(location=urljoin(url, location), answer_sdp=response.text)

    async def whip_end(self, location: str) -> None:
        """DELETE a WHIP session (RFC 9725 §4.2); errors do not matter, the relay ends idle sessions itself."""
        try:
            await _send(self.http, "DELETE", location, headers=self.headers, timeout=REQUEST_TIMEOUT_S)
        except DeviceAPIError:
            pass


async def send_event_with_retries(
    client: DeviceClient,
    kind: str,
    detail: str,
    occurred_at: datetime,
    *,
    attempts: int = 5,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Report an event, trying again with backoff while the server is unavailable; the last ServerUnavailable
    when every attempt failed. CredentialRevoked and RequestRejected are raised at once."""
    backoff = backoff or Backoff(base_s=1.0, cap_s=8.0, jitter=False)
    for attempt in range(attempts):
        try:
            await client.send_event(kind, detail, occurred_at)
            return
        except ServerUnavailable:
            if attempt == attempts - 1:
                raise
            await sleep(backoff.next_delay())
