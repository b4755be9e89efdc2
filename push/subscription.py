"""Checks on what a browser's PushSubscription.toJSON() sends before we ever post to its endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from push.vapid import b64url_decode

# Browser push services (exact host, or "*." for any subdomain). Anything else is refused, so a made-up
# endpoint cannot make the server send requests into our own network.
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def endpoint_problem(endpoint: str, allowed_hosts: Iterable[str]) -> str | None:
    parts = urlsplit(endpoint)
    if parts.scheme != "https":
        return "must be an https URL"
    if not parts.hostname or not host_allowed(parts.hostname, allowed_hosts):
        return f"{parts.hostname or 'this host'} is not a known push service"
    if parts.username or parts.password:
        return "must not carry credentials"
    return None


def p256dh_problem(value: str) -> str | None:
    try:
        raw = b64url_decode(value)
    except ValueError:
        return "is not base64url"
    if len(raw) != 65 or raw[0] != 4:
        return "must be a 65-byte uncompressed P-256 public key"
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return "is not a point on the P-256 curve"
    return None


def auth_problem(value: str) -> str | None:
    try:
        raw = b64url_decode(value)
    except ValueError:
        return "is not base64url"
    if len(raw) != 16:
        return "must be 16 bytes"
    return None
