"""What goes in and out of the districts API (and the coordinator's forms: same fields, same labels)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.districts.models import (
    ADDRESS_MAX,
    BUSINESS_NAME_MAX,
    CONTACT_NAME_MAX,
    EMAIL_MAX,
    PHONE_MAX,
    MemberSource,
    MemberStatus,
)
from backend.validation import EMAIL_PATTERN, label, partial

# An empty string is "no email" on a form; anything else must look like one.
OptionalEmail = Annotated[
    str, Meta(max_length=EMAIL_MAX, pattern=rf"^$|{EMAIL_PATTERN}", examples=["ana@bakery.example"])
]


# The fields in the order of the member form, with its labels.
class MemberIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    business_name: Annotated[
        str, Meta(min_length=1, max_length=BUSINESS_NAME_MAX, pattern=r"\S", examples=["Corner Bakery"]),
        label("Business name"),
    ]  # fmt: skip
    contact_name: Annotated[str, Meta(max_length=CONTACT_NAME_MAX), label("Contact name")] = ""
    email: Annotated[OptionalEmail, label("Email")] = ""
    phone: Annotated[str, Meta(max_length=PHONE_MAX), label("Phone")] = ""
    address: Annotated[str, Meta(max_length=ADDRESS_MAX), label("Street address")] = ""
    # Both or neither (the service says which one is missing).
    latitude: Annotated[float, Meta(ge=-90, le=90, description="WGS 84 degrees"), label("Latitude")] | None = None
    longitude: Annotated[float, Meta(ge=-180, le=180, description="WGS 84 degrees"), label("Longitude")] | None = None


MemberPatch = partial(MemberIn, "MemberPatch")


class StepOut(msgspec.Struct, kw_only=True):
    step: str  # invited, account, site, cameras, device, share_on_alert (in the funnel's order)
    label: str
    reached_at: dt.datetime | None  # None: not yet


class MemberOut(msgspec.Struct, kw_only=True):
    """What the district knows of a member (the roster row) and how far along the onboarding funnel they are."""

    id: uuid.UUID
    business_name: str
    contact_name: str
    email: str
    phone: str
    address: str
    latitude: float | None
    longitude: float | None
    status: MemberStatus
    source: MemberSource
    steps: list[StepOut]
    furthest_step: str | None  # the last step reached, None before the invite
    needs_nudge: str | None  # why the member needs a reminder, None if they do not
    invited_at: dt.datetime | None
    invite_expires_at: dt.datetime | None
    joined_at: dt.datetime | None
    left_at: dt.datetime | None
    created_at: dt.datetime


class MemberPage(msgspec.Struct, kw_only=True):
    members: list[MemberOut]
    # Pass it as `after` for the next page; None on the last page.
    next: str | None


class StepTotal(msgspec.Struct, kw_only=True):
    step: str
    label: str
    reached: int  # members (not counting those who left) who reached this step


class DistrictOut(msgspec.Struct, kw_only=True):
    name: str
    members: int  # on the roster, not counting those who left
    by_status: dict[str, int]
    needs_nudge: int
    steps: list[StepTotal]


class ImportRowOut(msgspec.Struct, kw_only=True):
    line: int  # the row's line in the file (the header is line 1)
    verdict: str  # new, updated, duplicate, invalid
    business_name: str
    reason: str  # invalid: why; duplicate: of what; updated: which fields change
    changed_fields: list[str]
    formula_fields: list[str]  # cells starting like a spreadsheet formula: stored as text, never evaluated


class ImportPreviewOut(msgspec.Struct, kw_only=True):
    import_id: str  # confirm with POST /api/v1/district/import/{import_id}/confirm within an hour
    expires_at: dt.datetime
    counts: dict[str, int]
    ignored_columns: list[str]
    rows: list[ImportRowOut]


class ImportResultOut(msgspec.Struct, kw_only=True):
    added: int
    updated: int
    duplicate: int
    invalid: int
