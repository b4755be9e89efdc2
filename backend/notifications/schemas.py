from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.notifications.models import Kind


class SubscriptionKeys(msgspec.Struct, forbid_unknown_fields=True):
    p256dh: Annotated[str, Meta(min_length=1, max_length=100)]
    auth: Annotated[str, Meta(min_length=1, max_length=32)]


class SubscriptionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Exactly what the browser's PushSubscription.toJSON() gives."""

    endpoint: Annotated[str, Meta(min_length=1, max_length=2048)]
    keys: SubscriptionKeys
    expirationTime: int | None = None  # noqa: N815 - the browser's own field name


class SubscriptionChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Sent by the service worker on `pushsubscriptionchange`; the old auth secret proves it is that browser."""

    old_endpoint: Annotated[str, Meta(min_length=1, max_length=2048)]
    old_auth: Annotated[str, Meta(min_length=1, max_length=32)]
    subscription: SubscriptionIn


class SubscriptionPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")] | msgspec.UnsetType = msgspec.UNSET
    muted_kinds: list[Kind] | msgspec.UnsetType = msgspec.UNSET


class SubscriptionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    muted_kinds: list[Kind]
    created_at: dt.datetime
    last_delivered_at: dt.datetime | None
    this_browser: bool


class NotificationOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: Kind
    title: str
    body: str
    navigate: str
    created_at: dt.datetime
    read: bool


class NotificationList(msgspec.Struct, kw_only=True):
    unread: int
    items: list[NotificationOut]
    # The next (older) page: GET the list again with ?before=<next_cursor>; None on the last page.
    next_cursor: str | None = None


class VapidKeyOut(msgspec.Struct):
    public_key: str
