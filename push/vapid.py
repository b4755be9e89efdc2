"""VAPID (RFC 8292): the application server's key pair and the signed Authorization header."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

# A token is valid for 12 h (RFC 8292 allows at most 24 h) and is re-signed 1 h before it expires.
TOKEN_LIFETIME_SECONDS = 12 * 3600
RENEW_BEFORE_SECONDS = 3600
_LOCAL_HOSTS = ("localhost", "127.", "::1", "[::1]", "0.0.0.0")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subject_problem(subject: str) -> str | None:
    """Why a VAPID `sub` would be refused by push services (Apple rejects localhost), or None."""
    if subject.startswith("mailto:"):
        host = subject.rsplit("@", 1)[-1].lower() if "@" in subject else ""
        if not host:
            return "the mailto: subject needs an address, e.g. mailto:ops@example.org"
    elif subject.startswith("https:"):
        host = (urlsplit(subject).hostname or "").lower()
    else:
        return "the subject must start with mailto: or https:"
    if not host or host.startswith(_LOCAL_HOSTS) or host.endswith(".localhost"):
        return f"the subject {subject!r} names a local address, which push services reject"
    return None


@dataclass(frozen=True)
class VapidKeys:
    vapid: Vapid
    public_key: str  # base64url uncompressed P-256 point: the browser's applicationServerKey

    @classmethod
    def from_pem(cls, pem: bytes) -> VapidKeys:
        vapid = Vapid.from_pem(pem)
        raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return cls(vapid=vapid, public_key=b64url(raw))

    @classmethod
    def load_or_create(cls, path: Path, configured_pem: str = "") -> VapidKeys:
        """The configured key, else the one in var/, else a new one written there (mode 600, never committed)."""
        if configured_pem:
            return cls.from_pem(configured_pem.encode())
        if not path.exists():
            vapid = Vapid()
            vapid.generate_keys()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(vapid.private_pem())
            path.chmod(0o600)
        return cls.from_pem(path.read_bytes())


class VapidSigner:
    """Signs one token per push-service origin and reuses it until shortly before it expires."""

    def __init__(self, keys: VapidKeys, subject: str) -> None:
        self._keys = keys
        self._subject = subject
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time() if now is None else now
        with self._lock:
            cached = self._cache.get(audience)
            if cached and cached[1] - RENEW_BEFORE_SECONDS > now:
                return cached[0]
            expires = int(now) + TOKEN_LIFETIME_SECONDS
            # A fresh claims dict each time: py_vapid and pywebpush write into the dict they are given.
            header = self._keys.vapid.sign({"sub": self._subject, "aud": audience, "exp": expires})["Authorization"]
            self._cache[audience] = (header, expires)
            return header
