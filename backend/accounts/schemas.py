from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.accounts.passwords import PASSWORD_MAX, PASSWORD_MIN
from backend.validation import EMAIL_PATTERN, label

Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]
# A password typed to sign in or confirm: only bounded (older passwords may be shorter than today's rule).
Password = Annotated[str, Meta(min_length=1, max_length=PASSWORD_MAX)]
# A new password: its length is checked with the other fields; passwords.password_problem adds the rest.
NewPassword = Annotated[str, Meta(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
TimeZone = Annotated[str, Meta(max_length=64)]


# Labels (and the order of the fields) are the forms': the pages and every message use them.
class SignupIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    display_name: Annotated[DisplayName, label("Your name")]
    password: NewPassword
    time_zone: TimeZone = "America/Chicago"


class LoginIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=1, max_length=254)]
    password: Password
    # Agency accounts (investigators, live desk): the 6-digit code of their authenticator app.
    totp_code: Annotated[str, Meta(max_length=10)] = ""


class EmailChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    new_email: Annotated[Email, label("New email address")]
    current_password: Password


class TimeZoneIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    time_zone: Annotated[TimeZone, label("Show times in")]


class ForgotPasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email


class ResetPasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    new_password: Password  # a link that has expired is said before anything about the password


class CodeIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, Meta(max_length=10), label("6-digit code")]


class AgencyAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An administrator creates an investigator's or live desk operator's account."""

    email: Email
    display_name: Annotated[DisplayName, label("Name")]
    role: Literal["investigator", "live_desk"]
    # An agency from the list (its exact name), or a new one named on purpose in `new_agency`: one of the two.
    agency: Annotated[str, Meta(max_length=200)] = ""
    new_agency: Annotated[str, Meta(max_length=200)] = ""
    password: Annotated[Password, label("First password")]


class CoordinatorAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An administrator creates a district coordinator's account (the district is the page's); in the page's order."""

    display_name: Annotated[DisplayName, label("Name")]
    email: Email
    password: Annotated[Password, label("First password")]


class AgencyAccountOut(msgspec.Struct, kw_only=True):
    """An account on the administrators' list: an agency's, a coordinator's or an administrator's."""

    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    agency: str | None
    second_factor_set_up: bool
    last_login_at: dt.datetime | None
    disabled: bool
    must_change_password: bool = False
    # Which roles the administrator may tick for this account (agency roles need an agency, coordinator a district).
    assignable_roles: list[str] = msgspec.field(default_factory=list)


class FirstPasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    new_password: Password


class PasswordChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Both are checked together by the service (a wrong current password and a weak new one, at once).
    current_password: Password
    new_password: Password


class DeleteAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: Password


class MeOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    time_zone: str
    agency: str | None
    created_at: dt.datetime
    email_confirmed: bool = False
