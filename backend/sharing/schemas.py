"""What the share-now APIs take and give."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.sharing.models import NOTE_MAX
from backend.validation import label

# The durations the app offers; any whole number of minutes up to the program's cap is accepted.
DURATION_CHOICES = (15, 30, 60, 120)
Minutes = Annotated[int, Meta(ge=1, le=24 * 60)]


class ShareIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    site_id: Annotated[uuid.UUID, label("Site")]
    # Registered cameras to share; empty: every camera of the site a device sends.
    camera_ids: Annotated[list[uuid.UUID], label("Cameras to share")] = msgspec.field(default_factory=list)
    minutes: Annotated[Minutes, label("Share for")] = 30
    note: Annotated[str, Meta(max_length=NOTE_MAX), label("Note for the live desk")] = ""


class ExtendIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    minutes: Annotated[Minutes, label("More time")]


class AnswerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The owner's answer to the desk's request for more time."""

    approve: bool


class ShareCameraOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    sending: bool


class WatcherOut(msgspec.Struct, kw_only=True):
    display_name: str
    agency: str
    since: dt.datetime


class ShareOut(msgspec.Struct, kw_only=True):
    """A share as its owner sees it: the countdown, the cameras, who is watching, and after it ends, a summary."""

    id: uuid.UUID
    site_id: uuid.UUID
    site_name: str
    state: str
    trigger: str
    note: str
    started_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    ended_how: str
    seconds_left: int
    cameras: list[ShareCameraOut]
    watching: list[WatcherOut]
    viewers: list[WatcherOut]  # everyone who opened it, for the receipt
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    nobody_answered: bool
    extension_asked_minutes: int | None
    extension_asked_by: str | None
    max_minutes: int
    can_extend: bool  # the program's cap leaves room for more time


class DeskShareOut(msgspec.Struct, kw_only=True):
    """A share as the live desk sees it. No owner contact details: the site, its address, the cameras."""

    id: uuid.UUID
    site_name: str
    address: str
    latitude: float
    longitude: float
    state: str
    trigger: str
    note: str
    started_at: dt.datetime
    ends_at: dt.datetime
    seconds_left: int
    ended_how: str
    cameras: list[ShareCameraOut]
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    extension_asked_minutes: int | None


class ShareableCamera(msgspec.Struct, kw_only=True):
    id: uuid.UUID  # the device camera
    name: str
    camera_id: uuid.UUID | None  # the registered camera it is linked to
    online: bool


class ShareableSite(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    cameras: list[ShareableCamera]
    open_share_id: uuid.UUID | None
