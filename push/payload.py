"""Notification payloads in the Declarative Web Push shape, kept within RFC 8291's size limit."""

from __future__ import annotations

import base64
import hashlib
import json

# RFC 8291: a 4096-byte record minus the aes128gcm header (86 bytes), padding delimiter and tag leaves 3993.
MAX_PLAINTEXT_BYTES = 3993


class PayloadTooLarge(ValueError):
    pass


def declarative_payload(
    *, title: str, body: str, navigate: str, tag: str, app_badge: int | None = None, silent: bool = False
) -> bytes:
    """The JSON a browser shows by itself (Declarative Web Push) or hands to our service worker unchanged.

    Only a title, a short body and where to go: details stay behind sign-in.
    """
    notification: dict[str, object] = {"title": title, "body": body, "navigate": navigate, "tag": tag}
    if silent:
        notification["silent"] = True
    message: dict[str, object] = {"web_push": 8030, "notification": notification}
    if app_badge is not None:
        message["app_badge"] = str(app_badge)
    encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) > MAX_PLAINTEXT_BYTES:
        raise PayloadTooLarge(f"payload is {len(encoded)} bytes; at most {MAX_PLAINTEXT_BYTES} fit in one push message")
    return encoded


def topic_for(tag: str) -> str:
    """The RFC 8030 Topic of a notification's tag (at most 32 base64url characters): a push service holding an
    undelivered message replaces it with a newer one of the same topic, as the phone replaces a shown
    notification of the same tag, so a repeat never stacks."""
    return base64.urlsafe_b64encode(hashlib.sha256(tag.encode()).digest()).decode()[:32]
