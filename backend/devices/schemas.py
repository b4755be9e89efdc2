"""What the device API and the owner's device API take and give."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from backend.devices.models import CAMERA_KEY_MAX, DEVICE_NAME_MAX, DeviceEventKind, Status
from backend.validation import label

DeviceName = Annotated[str, Meta(min_length=1, max_length=DEVICE_NAME_MAX, pattern=r"\S", examples=["Storefront core"])]
CameraKey = Annotated[str, Meta(min_length=1, max_length=CAMERA_KEY_MAX, pattern=r"^[A-Za-z0-9._-]+$")]


# --- the box's side (/device/v1) ---------------------------------------------------------------------------


class DeviceAuthorizationOut(msgspec.Struct, kw_only=True):
    """RFC 8628 section 3.2."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class GrantErrorOut(msgspec.Struct, kw_only=True):
    """RFC 6749 section 5.2, as RFC 8628 section 3.5 uses it: why no credential is issued (yet)."""

    error: str
    error_description: str


class TokenOut(msgspec.Struct, kw_only=True):
    """RFC 8628 section 3.5 / RFC 6749 section 5.1, with what the box shows its installer."""

    access_token: str
    token_type: str
    device_id: uuid.UUID
    device_name: str
    site_name: str


class CameraHealthIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key: CameraKey
    name: Annotated[str, Meta(min_length=1, max_length=DEVICE_NAME_MAX)]
    frames_arriving: bool
    fps: Annotated[float, Meta(ge=0, le=1000)] | None = None
    width: Annotated[int, Meta(ge=1, le=16384)] | None = None
    height: Annotated[int, Meta(ge=1, le=16384)] | None = None
    codec: Annotated[str, Meta(max_length=32)] | None = None
    bitrate_bps: Annotated[int, Meta(ge=0, le=10_000_000_000)] | None = None
    last_frame_at: dt.datetime | None = None
    error: Annotated[str, Meta(max_length=300)] = ""


class HeartbeatIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent_version: Annotated[str, Meta(min_length=1, max_length=40)]
    uptime_s: Annotated[int, Meta(ge=0)]
    sent_at: Annotated[dt.datetime, Meta(description="The box's own clock, to measure its offset")]
    disk_free_bytes: Annotated[int, Meta(ge=0)] | None = None
    reported_version: Annotated[int, Meta(ge=0)] = 0
    cameras: Annotated[list[CameraHealthIn], Meta(max_length=64)] = []


class HeartbeatOut(msgspec.Struct, kw_only=True):
    heartbeat_interval_s: int
    server_time: dt.datetime
    desired: dict[str, Any]


class DeviceEventIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: DeviceEventKind
    occurred_at: dt.datetime
    detail: Annotated[str, Meta(max_length=500)] = ""


class DeviceEventOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: DeviceEventKind
    occurred_at: dt.datetime
    received_at: dt.datetime


# --- the owner's side (/api/v1/devices) --------------------------------------------------------------------


class PairIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_code: Annotated[
        str, Meta(min_length=1, max_length=20, examples=["WDJB-MJHT"]), label("Code shown on the device")
    ]
    name: Annotated[DeviceName, label("Name for the device")]
    site_id: Annotated[uuid.UUID, label("Site")]


class DevicePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: DeviceName | msgspec.UnsetType = msgspec.UNSET
    site_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    alerts_muted: bool | msgspec.UnsetType = msgspec.UNSET
    # The panic button starts a share of the device's cameras (off: a press only notifies the owner).
    share_on_alert: bool | msgspec.UnsetType = msgspec.UNSET
    alert_share_minutes: Annotated[int, Meta(ge=1)] | msgspec.UnsetType = msgspec.UNSET


class LinkIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    camera_id: uuid.UUID | None


class DeviceCameraOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    key: str
    name: str
    status: Status
    status_since: dt.datetime
    frames_arriving: bool
    fps: float | None
    width: int | None
    height: int | None
    codec: str | None
    bitrate_bps: int | None
    last_frame_at: dt.datetime | None
    error: str
    camera_id: uuid.UUID | None
    camera_name: str | None


class OutageOut(msgspec.Struct, kw_only=True):
    device_camera_id: uuid.UUID | None
    started_at: dt.datetime
    ended_at: dt.datetime | None


class DeviceOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    site_id: uuid.UUID
    site_name: str
    status: Status
    status_since: dt.datetime
    last_heartbeat_at: dt.datetime | None
    agent_version: str
    uptime_s: int | None
    disk_free_bytes: int | None
    clock_offset_s: float | None
    # The box's clock is off by more than CLOCK_WRONG_AFTER: its video timestamps cannot be trusted.
    clock_wrong: bool
    alerts_muted: bool
    share_on_alert: bool
    alert_share_minutes: int
    heartbeat_interval_s: int
    cameras: list[DeviceCameraOut]


class DeviceDetailOut(DeviceOut, kw_only=True):
    outages: list[OutageOut]  # the last 7 days, newest first
