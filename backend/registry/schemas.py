from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.registry.models import NAME_MAX, NOTE_MAX, RANGE_M_MAX, RETENTION_DAYS_MAX, Placement, Recorder, SiteKind
from backend.validation import label, partial

Name = Annotated[str, Meta(min_length=1, max_length=NAME_MAX, pattern=r"\S", examples=["Back door"])]
Address = Annotated[str, Meta(min_length=1, max_length=300, pattern=r"\S", examples=["2401 N Holton St, Milwaukee"])]
Latitude = Annotated[float, Meta(ge=-90, le=90, description="WGS 84 degrees")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="WGS 84 degrees")]
Note = Annotated[str, Meta(max_length=NOTE_MAX)]


# The fields in the order of their form, with its labels (validation.label): the error summary and every message
# follow them.
class SiteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: Annotated[SiteKind, label("Home or business")]
    address: Annotated[Address, label("Street address")]
    latitude: Latitude
    longitude: Longitude
    contact_phone: Annotated[str, Meta(max_length=40), label("Contact phone")] = ""
    contact_email: Annotated[str, Meta(max_length=254), label("Contact email")] = ""
    contact_hours: Annotated[str, Meta(max_length=100, examples=["Weekdays 9-17"]), label("Preferred hours")] = ""
    investigator_note: Annotated[Note, label("Note for investigators")] = ""
    # The business improvement district the site is part of: one the owner is a joined member of, or none.
    district_id: Annotated[uuid.UUID, label("Part of a district")] | None = None


SitePatch = partial(SiteIn, "SitePatch")


class CameraIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    bearing_deg: Annotated[
        int,
        Meta(ge=0, le=359, description="Direction it faces, degrees clockwise from north"),
        label("Faces (degrees)"),
    ]
    field_of_view_deg: Annotated[int, Meta(ge=1, le=360), label("Field of view (degrees)")] = 90
    range_m: Annotated[int, Meta(ge=1, le=RANGE_M_MAX), label("Sees up to (metres)")] = 30
    placement: Placement
    recorder: Annotated[Recorder, label("Records to")]
    retention_days: Annotated[
        int,
        Meta(ge=1, le=RETENTION_DAYS_MAX, description="Days the recorder keeps video"),
        label("Keeps video for (days)"),
    ]
    # Absent: the camera stands at its site's position.
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    note: Note = ""


CameraPatch = partial(CameraIn, "CameraPatch")


class CameraOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    latitude: float
    longitude: float
    bearing_deg: int
    field_of_view_deg: int
    range_m: int
    placement: Placement
    recorder: Recorder
    retention_days: int
    note: str
    paused: bool
    paused_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SiteOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    address: str
    latitude: float
    longitude: float
    kind: SiteKind
    contact_phone: str
    contact_email: str
    contact_hours: str
    investigator_note: str
    created_at: dt.datetime
    updated_at: dt.datetime
    cameras: list[CameraOut]
    # Set when the position looks wrong: at 0, 0, or outside the program's area (PORCHLIGHT_PROGRAM_AREA). The site
    # is saved all the same.
    position_warning: str | None = None
    district_id: uuid.UUID | None = None  # the district the site is part of (one its owner joined), if any


class NearbyCamera(msgspec.Struct, kw_only=True, gc=False):
    """A camera found near an incident, as an investigator sees it: where it is and what it can show,
    with its owner's id only (to group requests per owner), never the owner's name or contact.
    (gc=False: a search may return thousands, and they hold only plain values, so no reference cycles.)"""

    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    latitude: float
    longitude: float
    distance_m: float
    bearing_deg: int
    field_of_view_deg: int
    range_m: int
    placement: Placement
    recorder: Recorder
    retention_days: int
    # The incident point is within range_m and within field_of_view_deg / 2 of the way the camera faces.
    incident_in_view: bool


class CameraSearch(msgspec.Struct, kw_only=True):
    """The cameras near an incident: how many there are within the radius, and the nearest of them."""

    total: int
    cameras: list[NearbyCamera]  # nearest first (ties by id), at most the limit asked for
