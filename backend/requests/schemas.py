from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.registry.models import Placement, Recorder
from backend.registry.schemas import Latitude, Longitude
from backend.requests.models import Answer, CustodyAction, QuickReply, RequestType
from backend.requests.states import RequestState, Side

CaseNumber = Annotated[str, Meta(min_length=1, max_length=50, pattern=r"\S")]


class AreaRequestIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Ask the owners of these cameras (from a search around the incident) for video of its window."""

    camera_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=5000)]
    case_number: CaseNumber
    request_type: RequestType
    incident_latitude: Latitude
    incident_longitude: Longitude
    window_start: dt.datetime
    window_end: dt.datetime
    incident_address: Annotated[str, Meta(max_length=300)] = ""
    message: Annotated[str, Meta(max_length=2000)] = ""
    # Absent: the earlier of 7 days (12 hours for an emergency) from now and when the first recorder overwrites the
    # window.
    deadline_at: dt.datetime | None = None
    # Set: ask only the owner of this camera, naming that owner's cameras among camera_ids.
    only_owner_of: uuid.UUID | None = None


class CameraSearchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Registered cameras around an incident point, for the incident's time window."""

    latitude: Latitude
    longitude: Longitude
    radius_m: Annotated[float, Meta(description="25 to 2000 metres")]
    window_start: dt.datetime
    window_end: dt.datetime


class FoundCamera(msgspec.Struct, kw_only=True):
    """A camera near an incident as an investigator sees it: never its owner's name or contact."""

    id: uuid.UUID
    name: str
    latitude: float
    longitude: float
    distance_m: float
    bearing_deg: int
    # The direction it faces as a compass point (N, NE, ...).
    facing: str
    field_of_view_deg: int
    range_m: int
    incident_in_view: bool
    placement: Placement
    recorder: Recorder
    retention_days: int
    # When the recorder overwrites the start of the window; past it, the video has probably been overwritten.
    overwritten_at: dt.datetime
    probably_overwritten: bool
    # Linked to a camera of the owner's edge device that is sending video now. Nothing more: live video comes
    # only when the owner shares it.
    live_capable: bool = False


class CameraSearchOut(msgspec.Struct, kw_only=True):
    total: int  # cameras within the radius
    owners: int  # distinct owners of the cameras listed: one request goes to each
    cameras: list[FoundCamera]  # nearest first


class AnswerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`accept` to share clips, or one of the quick replies."""

    answer: Answer
    message: Annotated[str, Meta(max_length=2000)] = ""


class RequestedCameraOut(msgspec.Struct, kw_only=True):
    camera_id: uuid.UUID
    name: str
    retention_days: int
    distance_m: float
    # When this recorder overwrites the start of the incident window (registered retention).
    overwritten_at: dt.datetime
    # The owner's site this camera is at, for the owner only (empty for an agency, or once the camera is deleted).
    site_name: str = ""


class RequestOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    agency: str
    case_number: str
    request_type: RequestType
    request_type_label: str
    state: RequestState
    state_label: str
    incident_latitude: float
    incident_longitude: float
    incident_address: str
    window_start: dt.datetime
    window_end: dt.datetime
    message: str
    deadline_at: dt.datetime
    reply: QuickReply | None
    reply_message: str
    created_at: dt.datetime
    cameras: list[RequestedCameraOut]
    # Whose turn it is in the request's conversation (a question or a reply awaits its answer), or null.
    waiting_on: Side | None = None
    # When it was answered with no footage or declined, expired, or was withdrawn; null while open.
    closed_at: dt.datetime | None = None


MESSAGE_MAX_CHARS = 2000


class MessageIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A message in a request's conversation: a question for the investigator, or a reply to the owner."""

    text: Annotated[str, Meta(min_length=1, max_length=MESSAGE_MAX_CHARS)]


class MessageOut(msgspec.Struct, kw_only=True):
    """One message of a request's conversation, oldest first. The owner's messages carry no name."""

    id: uuid.UUID
    author: Side
    # The investigator's name for their messages; empty for the owner's.
    author_name: str
    text: str
    created_at: dt.datetime
    # When the other side first opened the request after it; null while unread.
    read_at: dt.datetime | None


class ContactCardOut(msgspec.Struct, kw_only=True):
    """The owner's way to be reached: opening it is recorded and shown to the owner."""

    owner_name: str
    sites: list[dict[str, str]]


class ClipOut(msgspec.Struct, kw_only=True):
    """A clip sent for a request: the owner's receipt, and what the agency sees before opening it."""

    id: uuid.UUID
    request_id: uuid.UUID
    file_name: str
    size_bytes: int
    # Bytes the server has so far; equal to size_bytes once complete.
    received_bytes: int
    complete: bool
    # SHA-256 (hex) computed by the server as the bytes arrived; empty until complete.
    sha256: str
    note: str
    created_at: dt.datetime
    received_at: dt.datetime | None


class ClipNoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, Meta(max_length=1000)] = ""


class CustodyRowOut(msgspec.Struct, kw_only=True):
    """One line of a case's custody report, with its place in the agency's hash chain (requests.audit)."""

    id: int
    at: dt.datetime
    action: CustodyAction
    actor: str
    agency: str
    case_number: str
    request_id: uuid.UUID | None
    ip: str
    sha256: str
    detail: str
    prev_hash: str
    hash: str
