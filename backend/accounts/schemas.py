from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.accounts.passwords import PASSWORD_MAX

Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]
# Length rules for new passwords live in passwords.password_problem; this only bounds the input.
Password = Annotated[str, Meta(min_length=1, max_length=PASSWORD_MAX)]
TimeZone = Annotated[str, Meta(max_length=64)]


class SignupIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    password: Password
    display_name: DisplayName
    time_zone: TimeZone = "America/Chicago"


class LoginIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=1, max_length=254)]
    password: Password
    # Agency accounts (investigators, live desk): the 6-digit code of their authenticator app.
    totp_code: Annotated[str, Meta(max_length=10)] = ""


class EmailChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    new_email: Email
    current_password: Password


class TimeZoneIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    time_zone: TimeZone


class ForgotPasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email


class ResetPasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    new_password: Password


class CodeIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, Meta(max_length=10)]


class AgencyAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An administrator creates an investigator's or live desk operator's account."""

    email: Email
    display_name: DisplayName
    role: Literal["investigator", "live_desk"]
    # An agency from the list (its exact name), or a new one named on purpose in `new_agency`: one of the two.
    agency: Annotated[str, Meta(max_length=200)] = ""
    new_agency: Annotated[str, Meta(max_length=200)] = ""
    password: Password


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
