"""What goes in and out of the invite endpoints (and the district-wide link's join form: same fields, same labels)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.districts.models import ADDRESS_MAX, BUSINESS_NAME_MAX, CONTACT_NAME_MAX, PHONE_MAX, MemberStatus
from backend.districts.schemas import OptionalEmail
from backend.validation import label


class InviteState(enum.StrEnum):
    """Where a member's personal invite stands."""

    NOT_SENT = "not_sent"  # never emailed or printed
    VALID = "valid"  # its link works until expires_at
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED = "used"  # the member joined: the link has done its work
    NONE = "none"  # no personal invite: waiting for approval (joined through the district-wide link), or left


class InviteOut(msgspec.Struct, kw_only=True):
    """A member's personal invite, as their coordinator sees it. `link` is set while the invite works."""

    member_id: uuid.UUID
    state: InviteState
    link: str | None
    invited_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_emailed_at: dt.datetime | None
    emails_sent: int
    # When the next email (a nudge) may go to this member; None: now.
    next_email_at: dt.datetime | None


class JoinLinkAction(enum.StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"
    RENEW = "renew"  # a new link: every copy of the old one (printed, shared) stops working


class JoinLinkChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    action: Annotated[JoinLinkAction, label("Action")]


class RosterDetailsOut(msgspec.Struct, kw_only=True):
    """The business details on the district's roster, as given to the district (not the account's)."""

    business_name: str
    contact_name: str
    email: str
    phone: str
    address: str


class PendingOut(RosterDetailsOut, kw_only=True):
    """A business that joined through the district-wide link and waits for the coordinator's approval: the details
    it gave the district."""

    id: uuid.UUID
    created_at: dt.datetime


class JoinLinkOut(msgspec.Struct, kw_only=True):
    """The district-wide link for a meeting: anyone who joins through it waits for approval."""

    link: str
    enabled: bool
    version: int
    pending: list[PendingOut]


# The district-wide link's join form, in its order, with its labels: what the business gives the district. The body
# is optional (a personal invite needs none), so its required fields are checked by the service, all at once.
class JoinIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    business_name: Annotated[
        str, Meta(max_length=BUSINESS_NAME_MAX, examples=["Corner Bakery"], description="Required"),
        label("Business name"),
    ] = ""  # fmt: skip
    address: Annotated[
        str, Meta(max_length=ADDRESS_MAX, examples=["2401 N Holton St, Milwaukee"], description="Required"),
        label("Street address"),
    ] = ""  # fmt: skip
    # Empty: none given (the form offers the account's, to keep or clear; the district sees only what is sent).
    contact_name: Annotated[str, Meta(max_length=CONTACT_NAME_MAX), label("Contact name")] = ""
    email: Annotated[OptionalEmail, label("Contact email")] = ""
    phone: Annotated[str, Meta(max_length=PHONE_MAX), label("Contact phone")] = ""


class JoinOut(msgspec.Struct, kw_only=True):
    """The owner's membership after accepting an invite: joined (personal invite) or pending (district-wide link)."""

    district_id: uuid.UUID
    district_name: str
    member_id: uuid.UUID
    business_name: str
    status: MemberStatus
