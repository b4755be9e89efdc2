"""Bearer secrets (session tokens, device credentials): random, and stored only as their SHA-256; and signatures of
what the server hands out and checks later (invite links, sign-in tickets) with its secret key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SIGNATURE_BYTES = 32  # all of HMAC-SHA256


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, message: str, size: int = SIGNATURE_BYTES) -> str:
    """The message's HMAC-SHA256 with the secret, its first `size` bytes in unpadded base64url (check it with
    hmac.compare_digest)."""
    digest = hmac.digest(secret.encode(), message.encode(), "sha256")[:size]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
