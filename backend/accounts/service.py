"""Accounts: sign-up, sign-in with lockout, server-side sessions, export and deletion."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyotp
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend import pagination
from backend.accounts import session_cache
from backend.accounts.models import (
    AGENCY_ROLES,
    MANAGED_ROLES,
    Agency,
    LoginAttempt,
    LoginOutcome,
    Role,
    User,
    UserRole,
    UserSession,
)
from backend.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from backend.accounts.schemas import (
    AgencyAccountIn,
    AgencyAccountOut,
    CoordinatorAccountIn,
    MeOut,
    PasswordChangeIn,
    SignupIn,
)
from backend.db import utcnow
from backend.districts import admin as districts_admin
from backend.districts.models import District
from backend.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts
from backend.hot_reads import HotRead
from backend.tokens import new_token, sign, token_hash
from backend.validation import labels

if TYPE_CHECKING:
    from backend.requests.evidence import ClipStore
    from backend.sharing.service import SharePolicy

# Wrong passwords for one account from one address pause sign-in for that pair only (a stranger typing someone's
# email cannot lock them out), each pause longer than the last within a day: the person waits a minute, a guesser
# is slowed to a crawl. Wrong second-factor codes (the password was right) lock the account.
PAUSE_AFTER_FAILURES = 5
PAUSES = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=15), dt.timedelta(hours=1))
PAUSE_MEMORY = dt.timedelta(hours=24)
LOCK_AFTER_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK_DURATION = dt.timedelta(minutes=15)
# Failed sign-ins from one address in the window before that address must wait (any accounts).
IP_FAILURE_LIMIT = 30
# A session's last_seen_at is written at most this often, so reads stay reads.
SESSION_TOUCH_INTERVAL = dt.timedelta(minutes=5)
# Police accounts (CJIS Security Policy: session lock and re-authentication): unused for 30 minutes, or 12 hours
# after sign-in, a session ends. Their sessions record use every minute so that the idle limit is kept closely.
AGENCY_IDLE_LIMIT = dt.timedelta(minutes=30)
AGENCY_ABSOLUTE_LIMIT = dt.timedelta(hours=12)
AGENCY_TOUCH_INTERVAL = dt.timedelta(minutes=1)
DEFAULT_TIME_ZONE = "America/Chicago"
# Between a right password and the second factor: how long the browser may take to give the code.
SECOND_FACTOR_WINDOW = dt.timedelta(minutes=10)
TOTP_ISSUER = "Porchlight"
_CODE = re.compile(r"^\d{6}$")

# What administrators do to accounts, by whom and to whom (ids only: never a password or contact detail).
admin_log = logging.getLogger("porchlight.admin")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _valid_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIME_ZONE
    return name


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA time zone names (places, not Etc/ offsets) this server knows, for the account page's list."""
    return tuple(sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/")))


async def set_time_zone(db: AsyncSession, user: User, name: str) -> None:
    """Times in Porchlight (requests, clips, receipts) are shown to this person in `name`."""
    name = name.strip()
    if name not in time_zones() and name != "UTC":
        raise InvalidInput({"time_zone": "Choose a time zone from the list, such as America/New_York"})
    user.time_zone = name
    await db.commit()


async def get_user_by_email(db: AsyncSession, email: str) -> User | None:
    return await db.scalar(select(User).where(User.email == normalize_email(email)))


async def signup(db: AsyncSession, data: SignupIn) -> User:
    """A new camera owner. Nothing is saved unless every rule holds."""
    email = normalize_email(data.email)
    if problem := password_problem(data.password, email):
        raise InvalidInput({"password": problem})
    if await get_user_by_email(db, email):
        raise InvalidInput({"email": "An account with this email already exists; sign in instead"})
    user = User(
        email=email,
        password_hash=hash_password(data.password),
        display_name=data.display_name.strip(),
        time_zone=_valid_time_zone(data.time_zone),
        roles=[UserRole(role=Role.OWNER)],
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError as exc:  # a simultaneous sign-up with the same email won the race
        await db.rollback()
        raise InvalidInput({"email": "An account with this email already exists; sign in instead"}) from exc
    return user


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password: str | None,
    display_name: str,
    roles: Iterable[Role],
    agency_name: str | None = None,
    district_name: str | None = None,
    create_agency: bool = True,
    must_change_password: bool = False,
) -> User:
    """Any kind of account (CLI, admin, demo). Agency roles need an agency; an agency not known yet is created only
    with `create_agency` (the command line names agencies by hand; the administrators' page says so explicitly).
    `must_change_password`: the password was chosen by someone else, and the person replaces it at first sign-in."""
    roles = sorted(set(roles))
    if not roles:
        raise InvalidInput({"roles": "Give at least one role"})
    if AGENCY_ROLES & set(roles) and not agency_name:
        raise InvalidInput({"agency": "Investigators and live desk operators must belong to an agency"})
    if Role.COORDINATOR in roles and not district_name:
        raise InvalidInput({"district": "Coordinators must belong to a district"})
    email = normalize_email(email)
    if password is not None and (problem := password_problem(password, email)):
        raise InvalidInput({"password": problem})
    if await get_user_by_email(db, email):
        raise InvalidInput({"email": f"An account with the email {email} already exists"})
    user = User(
        email=email,
        password_hash=hash_password(password) if password is not None else None,
        display_name=display_name,
        roles=[UserRole(role=role) for role in roles],
        must_change_password_since=utcnow() if must_change_password else None,
    )
    if agency_name:
        user.agency_id = (await agency_named(db, agency_name, create=create_agency)).id
    if district_name:
        user.district_id = (await _district_or_new(db, district_name)).id
    db.add(user)
    await db.commit()
    return user


async def agency_names(db: AsyncSession) -> list[str]:
    """Every agency, by name: the list an administrator picks from."""
    return list(await db.scalars(select(Agency.name).order_by(Agency.name)))


UNKNOWN_AGENCY = "Choose the agency from the list. To add an agency, name it under “New agency” instead"


async def agency_named(db: AsyncSession, name: str, *, create: bool) -> Agency:
    """The agency called exactly `name`; a new one only when `create` (a typo must not make a second agency)."""
    found = await db.scalar(select(Agency).where(Agency.name == name))
    if found is not None:
        return found
    if not create:
        raise InvalidInput({"agency": UNKNOWN_AGENCY})
    agency = Agency(name=name)
    db.add(agency)
    await db.flush()
    return agency


async def agency_choice_errors(db: AsyncSession, agency: str, new_agency: str) -> dict[str, str]:
    """What is wrong with the agency an administrator gave a new account: one from the list, or a new one named on
    purpose (not one that exists already under another spelling of the same letters)."""
    agency, new_agency = agency.strip(), " ".join(new_agency.split())
    if agency and new_agency:
        return {"new_agency": "Choose an agency from the list or name a new one, not both"}
    if new_agency:
        same = await db.scalar(select(Agency.name).where(func.lower(Agency.name) == new_agency.lower()))
        if same is not None:
            return {"new_agency": f"The agency {same} exists already: choose it from the list"}
        return {}
    if not agency:
        return {"agency": "Choose the agency from the list, or name a new agency below"}
    if await db.scalar(select(Agency.id).where(Agency.name == agency)) is None:
        return {"agency": UNKNOWN_AGENCY}
    return {}


async def _district_or_new(db: AsyncSession, name: str) -> District:
    """The district of this name (spaces and letter case aside, as `porchlight districts` names them), else a new
    one (the demo and the command line name districts by hand)."""
    try:
        return await districts_admin.district_named(db, name)
    except NotFound:
        district = District(name=" ".join(name.split()))
        db.add(district)
        await db.flush()
        return district


async def _record_attempt(db: AsyncSession, email: str, ip: str, outcome: LoginOutcome) -> None:
    db.add(LoginAttempt(email=email, ip=ip, outcome=outcome))
    await db.commit()


def _lock_message(until: dt.datetime) -> str:
    minutes = _minutes_until(until)
    return (
        f"This account is locked for {minutes} more minute{'s' if minutes != 1 else ''} after "
        f"{LOCK_AFTER_FAILURES} wrong codes. Wait, then try again; the lock lifts by itself."
    )


def _minutes_until(until: dt.datetime) -> int:
    return max(1, round((until - utcnow()).total_seconds() / 60))


def _pause_after(failures: int) -> dt.timedelta:
    """The pause after `failures` wrong passwords (a multiple of PAUSE_AFTER_FAILURES)."""
    return PAUSES[min(failures // PAUSE_AFTER_FAILURES, len(PAUSES)) - 1]


def _pause_message(until: dt.datetime) -> str:
    minutes = _minutes_until(until)
    return (
        f"Too many wrong passwords: sign-in to this account from this network is paused for {minutes} more "
        f"minute{'s' if minutes != 1 else ''}. Wait, then try again, or reset your password."
    )


async def _failures_here(db: AsyncSession, email: str, ip: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Wrong passwords for this email from this address in the last day, since the last sign-in from here, and
    when the latest was (the same whether or not the email has an account, so nothing is given away)."""
    here = (LoginAttempt.email == email, LoginAttempt.ip == ip)
    last_success = await db.scalar(
        select(func.max(LoginAttempt.at)).where(*here, LoginAttempt.outcome == LoginOutcome.SUCCEEDED)
    )
    since = max(now - PAUSE_MEMORY, last_success) if last_success else now - PAUSE_MEMORY
    count, latest = (
        await db.execute(
            select(func.count(), func.max(LoginAttempt.at)).where(
                *here,
                LoginAttempt.at > since,
                LoginAttempt.outcome.in_([LoginOutcome.WRONG_PASSWORD, LoginOutcome.UNKNOWN_EMAIL]),
            )
        )
    ).one()
    return count, latest


async def authenticate(db: AsyncSession, email: str, password: str, ip: str) -> User:
    """Check a sign-in; every attempt is recorded. Wrong passwords pause this email from this address (growing
    pauses, with the tries left said before each); many failures from one address rate-limit it."""
    email = normalize_email(email)
    now = utcnow()
    failures_from_ip = await db.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.ip == ip,
            LoginAttempt.at > now - FAILURE_WINDOW,
            LoginAttempt.outcome != LoginOutcome.SUCCEEDED,
        )
    )
    if failures_from_ip >= IP_FAILURE_LIMIT:
        await _record_attempt(db, email, ip, LoginOutcome.RATE_LIMITED)
        raise TooManyAttempts(
            "Too many failed sign-ins from this network. Wait 15 minutes, then try again.",
            int(FAILURE_WINDOW.total_seconds()),
        )
    failures, latest = await _failures_here(db, email, ip, now)
    if failures and failures % PAUSE_AFTER_FAILURES == 0 and latest + _pause_after(failures) > now:
        until = latest + _pause_after(failures)
        await _record_attempt(db, email, ip, LoginOutcome.LOCKED)
        raise TooManyAttempts(_pause_message(until), int((until - now).total_seconds()))
    user = await get_user_by_email(db, email)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        await _record_attempt(db, email, ip, LoginOutcome.LOCKED)
        raise TooManyAttempts(_lock_message(user.locked_until), int((user.locked_until - now).total_seconds()))
    if user is None or not verify_password(user.password_hash, password):
        outcome = LoginOutcome.UNKNOWN_EMAIL if user is None else LoginOutcome.WRONG_PASSWORD
        await _record_attempt(db, email, ip, outcome)
        failures += 1
        if failures % PAUSE_AFTER_FAILURES == 0:
            pause = _pause_after(failures)
            raise TooManyAttempts(_pause_message(now + pause), int(pause.total_seconds()))
        left = PAUSE_AFTER_FAILURES - failures % PAUSE_AFTER_FAILURES
        next_pause = _pause_after(failures + left)
        raise InvalidInput(
            {
                "password": f"Wrong email or password. {left} more {'try' if left == 1 else 'tries'} before sign-in "
                f"pauses for {round(next_pause.total_seconds() / 60)} minute{'s' if next_pause > PAUSES[0] else ''}."
            }
        )
    if user.disabled_at is not None:  # said only to whoever knows the password
        await _record_attempt(db, email, ip, LoginOutcome.DISABLED)
        raise Forbidden("This account is disabled. Ask your agency's Porchlight administrator to enable it.")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    user.locked_until = None
    db.add(LoginAttempt(email=email, ip=ip, outcome=LoginOutcome.SUCCEEDED))
    await db.commit()
    return user


def needs_second_factor(user: User) -> bool:
    """Accounts that act for a police agency sign in with a TOTP code after their password."""
    return bool(AGENCY_ROLES & user.role_names)


def _ticket_mac(secret_key: str, user: User, expires: int) -> str:
    # The password hash is part of what is signed: changing the password ends any half-finished sign-in.
    return sign(secret_key, f"{user.id}|{expires}|{user.password_hash or ''}")


def second_factor_ticket(secret_key: str, user: User) -> str:
    """What the browser holds between a right password and the code: who, until when, signed."""
    expires = int((utcnow() + SECOND_FACTOR_WINDOW).timestamp())
    return f"{user.id}.{expires}.{_ticket_mac(secret_key, user, expires)}"


async def user_for_ticket(db: AsyncSession, secret_key: str, ticket: str | None) -> User | None:
    """The person a second-factor ticket was issued to, if it is genuine and not expired."""
    try:
        user_id, expires_text, mac = (ticket or "").split(".")
        user = await db.get(User, uuid.UUID(user_id))
        expires = int(expires_text)
    except ValueError:
        return None
    if user is None or expires < utcnow().timestamp():
        return None
    return user if hmac.compare_digest(mac, _ticket_mac(secret_key, user, expires)) else None


async def totp_setup(db: AsyncSession, user: User) -> tuple[str, str]:
    """The secret to add to an authenticator app (made once, kept until confirmed) and its otpauth URI."""
    if user.totp_confirmed_at is not None:
        raise Forbidden("The second factor of this account is set up already")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        await db.commit()
    return user.totp_secret, pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


async def verify_second_factor(db: AsyncSession, user: User, code: str, ip: str) -> None:
    """Check a TOTP code: each code works once; wrong codes count towards the same lock as wrong passwords.
    The first right code confirms the setup."""
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        await _record_attempt(db, user.email, ip, LoginOutcome.LOCKED)
        raise TooManyAttempts(_lock_message(user.locked_until), int((user.locked_until - now).total_seconds()))
    code = code.replace(" ", "").strip()
    if not _CODE.match(code):
        raise InvalidInput({"code": "Enter the 6-digit code your authenticator app shows for Porchlight"})
    if not user.totp_secret:
        raise Forbidden("Set up the second factor first: sign in on the web and scan the QR code")
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now)
    step = next(
        (s for s in (current, current - 1, current + 1) if hmac.compare_digest(totp.generate_otp(s), code)), None
    )
    if step is None:
        db.add(LoginAttempt(email=user.email, ip=ip, outcome=LoginOutcome.WRONG_CODE))
        wrong = await db.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.email == user.email,
                LoginAttempt.at > now - FAILURE_WINDOW,
                LoginAttempt.outcome == LoginOutcome.WRONG_CODE,
            )
        )
        if wrong >= LOCK_AFTER_FAILURES:  # the attempt just added is counted (autoflush)
            user.locked_until = now + LOCK_DURATION
            await db.commit()
            raise TooManyAttempts(_lock_message(user.locked_until), int(LOCK_DURATION.total_seconds()))
        await db.commit()
        raise InvalidInput({"code": "That code is not right. Check the app shows Porchlight's code and try again"})
    if user.totp_last_step is not None and step <= user.totp_last_step:
        await db.commit()
        raise InvalidInput({"code": "That code was used already; wait for the next one (they change every 30 s)"})
    user.totp_last_step = step
    user.totp_confirmed_at = user.totp_confirmed_at or now
    await db.commit()


async def authenticate_with_code(db: AsyncSession, email: str, password: str, code: str, ip: str) -> User:
    """One-call sign-in (the JSON API): the password, and for agency accounts the TOTP code as well."""
    user = await authenticate(db, email, password, ip)
    if not needs_second_factor(user):
        return user
    if user.totp_confirmed_at is None:
        raise Forbidden("This account's second factor is not set up yet: sign in on the web once and scan the QR code")
    if not code:
        raise InvalidInput({"totp_code": "This account needs the 6-digit code from its authenticator app (totp_code)"})
    try:
        await verify_second_factor(db, user, code, ip)
    except InvalidInput as exc:
        raise InvalidInput({"totp_code": exc.errors["code"]}) from exc
    return user


# The order of the fields on the new-account form: its error summary lists them so.
_NEW_ACCOUNT_FIELDS = ("display_name", "email", "agency", "new_agency", "role", "password")


def in_form_order(errors: dict[str, str]) -> dict[str, str]:
    return dict(
        sorted(errors.items(), key=lambda e: _NEW_ACCOUNT_FIELDS.index(e[0]) if e[0] in _NEW_ACCOUNT_FIELDS else 99)
    )


def _log_admin_action(action: str, admin_id: uuid.UUID | None, target_id: uuid.UUID, detail: str = "") -> None:
    admin_log.info("admin %s: %s account %s%s", admin_id, action, target_id, f" ({detail})" if detail else "")


async def _new_account_errors(db: AsyncSession, email: str, password: str) -> dict[str, str]:
    """What is wrong with an account an administrator is creating: its first password, an address already taken."""
    errors = {}
    if problem := password_problem(password, email):
        errors["password"] = problem
    if await get_user_by_email(db, email):
        errors["email"] = f"An account with the email {email} already exists"
    return errors


async def create_agency_account(db: AsyncSession, admin: User, account: AgencyAccountIn) -> User:
    """An administrator creates an investigator's or live desk operator's account with a first password they give
    in person; the person chooses their own at the first sign-in. Every problem is reported at once; nothing is
    saved unless all is right."""
    email = normalize_email(account.email)
    errors = {
        **await agency_choice_errors(db, account.agency, account.new_agency),
        **await _new_account_errors(db, email, account.password),
    }
    if errors:
        raise InvalidInput(in_form_order(errors))
    new_agency = " ".join(account.new_agency.split())
    user = await create_user(
        db, email=email, password=account.password, display_name=account.display_name.strip(),
        roles=[Role(account.role)], agency_name=new_agency or account.agency.strip(), create_agency=bool(new_agency),
        must_change_password=True,
    )  # fmt: skip
    _log_admin_action("created", admin.id, user.id, f"role {account.role}" + (", new agency" if new_agency else ""))
    return user


async def create_coordinator_account(
    db: AsyncSession, admin: User, district: District, account: CoordinatorAccountIn
) -> User:
    """An administrator creates a coordinator of `district` with a first password they give in person; the person
    chooses their own at the first sign-in. Every problem is reported at once; nothing is saved unless all is right."""
    email = normalize_email(account.email)
    if errors := await _new_account_errors(db, email, account.password):
        raise InvalidInput(in_form_order(errors))
    user = User(
        email=email, password_hash=hash_password(account.password), display_name=account.display_name.strip(),
        roles=[UserRole(role=Role.COORDINATOR)], district_id=district.id, must_change_password_since=utcnow(),
    )  # fmt: skip
    db.add(user)
    await db.commit()
    _log_admin_action("created", admin.id, user.id, f"coordinator of district {district.id}")
    return user


def _assignable_roles(user: User) -> list[str]:
    allowed = []
    for role in MANAGED_ROLES:
        if role in AGENCY_ROLES and user.agency_id is None:
            continue
        if role == Role.COORDINATOR and user.district_id is None:
            continue
        allowed.append(role.value)
    return allowed


# An account the administrators' page manages: one of an agency or a district, or holding a staff role. Owners who
# signed themselves up are not on it (their contact details stay off lists).
_MANAGED = or_(
    User.agency_id.is_not(None),
    User.district_id.is_not(None),
    User.id.in_(select(UserRole.user_id).where(UserRole.role.in_([Role.ADMIN.value, Role.COORDINATOR.value]))),
)


async def agency_accounts(db: AsyncSession) -> list[AgencyAccountOut]:
    """Every account the administrators manage: agency accounts by agency then name, then the others by name."""
    rows = await db.execute(
        select(User, Agency.name)
        .outerjoin(Agency, Agency.id == User.agency_id)
        .where(_MANAGED)
        .order_by(Agency.name.is_(None), Agency.name, User.display_name)
    )
    return [
        AgencyAccountOut(
            id=user.id, email=user.email, display_name=user.display_name, roles=sorted(user.role_names),
            agency=agency, second_factor_set_up=user.totp_confirmed_at is not None, last_login_at=user.last_login_at,
            disabled=user.disabled_at is not None, must_change_password=user.must_change_password,
            assignable_roles=_assignable_roles(user),
        )
        for user, agency in rows
    ]  # fmt: skip


async def managed_account(db: AsyncSession, user_id: uuid.UUID) -> User:
    """An account on the administrators' list (an owner's id is a 404, as an unknown one)."""
    user = await db.scalar(select(User).where(User.id == user_id, _MANAGED))
    if user is None:
        raise NotFound("No such account on the administrators' list")
    return user


async def agency_account(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id)
    if user is None or user.agency_id is None:
        raise NotFound("No such agency account")
    return user


async def reset_second_factor(db: AsyncSession, user_id: uuid.UUID, *, admin_id: uuid.UUID | None = None) -> User:
    """An administrator clears a lost authenticator: the person sets it up again at the next sign-in."""
    user = await agency_account(db, user_id)
    user.totp_secret = user.totp_confirmed_at = user.totp_last_step = None
    await end_all_sessions(db, user.id)  # whoever holds the lost authenticator may hold a session too
    await db.commit()
    _log_admin_action("reset the second factor of", admin_id, user.id)
    return user


async def set_disabled(
    db: AsyncSession, user_id: uuid.UUID, disabled: bool, *, admin_id: uuid.UUID | None = None
) -> User:
    """An administrator disables an account (it is signed out everywhere and cannot sign in) or enables it; not
    their own (nobody would be left to enable it)."""
    if disabled and admin_id == user_id:
        raise Forbidden("You cannot disable your own account; ask another administrator")
    user = await managed_account(db, user_id)
    user.disabled_at = (user.disabled_at or utcnow()) if disabled else None
    if disabled:
        await end_all_sessions(db, user.id)
    await db.commit()
    _log_admin_action("disabled" if disabled else "enabled", admin_id, user.id)
    return user


async def set_roles(db: AsyncSession, admin: User, user_id: uuid.UUID, role_names: Iterable[str]) -> User:
    """An administrator sets which of the managed roles an account holds (any other role, such as owner, stays).
    Agency roles need an agency, coordinator a district; nobody removes their own administrator role. If a role was
    taken away, the person is signed out everywhere, so no session keeps it (unless it is the administrator)."""
    user = await managed_account(db, user_id)
    wanted = set(role_names)
    if unknown := wanted - {r.value for r in MANAGED_ROLES}:
        raise InvalidInput({"roles": f"Not a role given here: {', '.join(sorted(unknown))}"})
    chosen = {Role(name) for name in wanted}
    if not_allowed := {r.value for r in chosen} - set(_assignable_roles(user)):
        reason = "belongs to no district" if not_allowed == {Role.COORDINATOR.value} else "belongs to no agency"
        raise InvalidInput({"roles": f"This account {reason}: it cannot be {', '.join(sorted(not_allowed))}"})
    if user.id == admin.id and Role.ADMIN not in chosen:
        raise InvalidInput({"roles": "You cannot remove your own administrator role; ask another administrator"})
    kept = user.role_names - set(MANAGED_ROLES)
    if not chosen | kept:
        raise InvalidInput({"roles": "Tick at least one role. To stop someone signing in, disable the account"})
    before = user.role_names
    removed = before - chosen - kept
    added = chosen - before
    if not removed and not added:
        return user
    if removed:
        await db.execute(
            delete(UserRole).where(UserRole.user_id == user.id, UserRole.role.in_([r.value for r in removed]))
        )
        if user.id != admin.id:
            await end_all_sessions(db, user.id)
    db.add_all(UserRole(user_id=user.id, role=role.value) for role in added)
    await db.commit()
    await db.refresh(user, ["roles"])
    _log_admin_action(
        "changed the roles of", admin.id, user.id,
        f"added {', '.join(sorted(added)) or 'none'}; removed {', '.join(sorted(removed)) or 'none'}",
    )  # fmt: skip
    return user


async def remove_role(
    db: AsyncSession, user_id: uuid.UUID, role_name: str, *, admin_id: uuid.UUID | None = None
) -> User:
    """An administrator takes an agency role away; the person is signed out everywhere, so no session keeps it."""
    if role_name not in {r.value for r in AGENCY_ROLES}:
        raise InvalidInput({"role": "Choose investigator or live desk"})
    role = Role(role_name)
    user = await agency_account(db, user_id)
    if not user.has_role(role):
        raise InvalidInput({"role": f"This account does not have the role {role.value.replace('_', ' ')}"})
    await db.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role.value))
    await end_all_sessions(db, user.id)
    await db.commit()
    await db.refresh(user, ["roles"])
    _log_admin_action("changed the roles of", admin_id, user.id, f"removed {role.value}")
    return user


async def choose_first_password(db: AsyncSession, user: User, new: str) -> None:
    """The person replaces the first password an administrator gave them. Every session of theirs ends (the
    caller signs this browser in again with a new one): the administrator knew the old password."""
    if not user.must_change_password:
        raise Forbidden("Your password is your own already; change it on your account page")
    if problem := password_problem(new, user.email):
        raise InvalidInput({"new_password": problem})
    if verify_password(user.password_hash, new):
        raise InvalidInput({"new_password": "Choose a password different from the one you were given"})
    user.password_hash = hash_password(new)
    user.must_change_password_since = None
    await end_all_sessions(db, user.id)
    await db.commit()


async def change_password(db: AsyncSession, user: User, current: str, new: str) -> None:
    """The person changes their own password: every session of theirs ends (the caller signs this browser in
    again with a new one)."""
    errors = {}
    if not verify_password(user.password_hash, current):
        errors["current_password"] = "Wrong password; it was not changed"
    if problem := password_problem(new, user.email, labels(PasswordChangeIn)["new_password"]):
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = "Choose a password different from the current one"
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(new)
    user.must_change_password_since = None  # a password they chose themselves
    await end_all_sessions(db, user.id)
    await db.commit()


async def start_session(db: AsyncSession, user: User, *, days: int, user_agent: str, ip: str) -> str:
    """A fresh session with a new random token (never the one the browser arrived with)."""
    token = new_token()
    now = utcnow()
    db.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(days=days),
            user_agent=user_agent[:300],
            ip=ip[:45],
        )
    )
    await db.commit()
    return token


# Who holds a session token, which roles they have (a row per role), and what the session's expiry rules need: one
# round trip, on the driver (hot_reads).
_SESSIONS, _USERS, _ROLES = UserSession.__table__, User.__table__, UserRole.__table__
_SESSION_FIELDS = [_SESSIONS.c[name] for name in ("id", "created_at", "last_seen_at", "expires_at")]
_SESSION_HOLDER = HotRead(
    select(*_SESSION_FIELDS, *session_cache.USER_TABLE_COLUMNS, _ROLES.c.role)
    .select_from(_SESSIONS.join(_USERS).outerjoin(_ROLES))
    .where(
        _SESSIONS.c.token_hash == bindparam("token_hash"),
        _SESSIONS.c.expires_at > bindparam("now"),
        _USERS.c.disabled_at.is_(None),
    ),
    _SESSION_FIELDS,
    session_cache.USER_TABLE_COLUMNS,
    _ROLES.c.role,
)
_TOUCH_SESSION = (
    update(UserSession)
    .where(UserSession.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"), expires_at=bindparam("expires_at"))
    .execution_options(**{session_cache.TOUCH: True})
)


async def user_for_session(
    db: AsyncSession, token: str, *, days: int, now: dt.datetime | None = None, touch: bool = True
) -> tuple[User, uuid.UUID] | None:
    """The signed-in user behind a session token, and the session's id; slides the session's expiry forward
    (unless `touch` is False: a page refreshing itself is no sign of use). An agency account's session also ends
    after 30 minutes unused or 12 hours in all. One round trip, or none when this app process remembers the token
    (session_cache: on PostgreSQL, for at most 30 s, and forgotten by every process as the change commits): a
    session ended (sign-out, a password changed, a second factor reset, a role removed, an account disabled) is
    refused on the very next request."""
    now = now or utcnow()
    hashed = token_hash(token)
    cache = session_cache.cache_of(db.sync_session)
    holder = cache.get(hashed) if cache is not None else None
    if holder is None:
        generation = cache.generation if cache is not None else 0
        holder = session_cache.holder_of_rows(await _SESSION_HOLDER.rows(db, token_hash=hashed, now=now))
        if holder is None:
            return None
        if cache is not None:
            cache.keep(hashed, holder, generation)
    elif holder.expires_at <= now:
        return None
    session_id, created_at, last_seen_at = holder.session_id, holder.created_at, holder.last_seen_at
    user = holder.attach(db.sync_session)
    agency = bool(user.role_names & AGENCY_ROLES)
    if agency and (now - last_seen_at > AGENCY_IDLE_LIMIT or now - created_at > AGENCY_ABSOLUTE_LIMIT):
        await db.execute(delete(UserSession).where(UserSession.id == session_id))
        await db.commit()
        return None
    if touch and now - last_seen_at > (AGENCY_TOUCH_INTERVAL if agency else SESSION_TOUCH_INTERVAL):
        expires_at = now + dt.timedelta(days=days)
        await db.execute(_TOUCH_SESSION, {"session_id": session_id, "now": now, "expires_at": expires_at})
        await db.commit()
        if cache is not None:  # what the database has now
            cache.keep(hashed, holder.touched(now, expires_at), cache.generation)
    return user, session_id


async def end_all_sessions(db: AsyncSession, user_id: uuid.UUID) -> None:
    """Sign the person out everywhere (their credentials or second factor changed). The caller commits."""
    await db.execute(delete(UserSession).where(UserSession.user_id == user_id))


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))
    await db.commit()


async def delete_account(db: AsyncSession, store: ClipStore, user: User, password: str) -> None:
    """Remove the account and everything it owns (sites, cameras, sessions cascade in the database), except what
    belongs to a case: clips already sent, the requests they answered and the custody log stay, linked to nobody."""
    from backend.requests import evidence

    if not verify_password(user.password_hash, password):
        raise InvalidInput({"password": "Wrong password; the account was not deleted"})
    unfinished = await evidence.forget_owner(db, user.id)
    await db.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))
    await db.execute(delete(User).where(User.id == user.id))
    await db.commit()
    evidence.remove_unfinished(store, unfinished)


async def me(db: AsyncSession, user: User) -> MeOut:
    agency = await db.get(Agency, user.agency_id) if user.agency_id else None
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=sorted(user.role_names),
        time_zone=user.time_zone,
        agency=agency.name if agency else None,
        created_at=user.created_at,
        email_confirmed=user.email_confirmed_at is not None,
    )


async def export(db: AsyncSession, user: User, share_policy: SharePolicy | None = None) -> dict[str, Any]:
    """Everything Porchlight holds about this person, as one JSON-ready document."""
    from backend.devices import service as devices
    from backend.registry import service as registry
    from backend.requests import evidence
    from backend.requests import service as requests
    from backend.sharing import service as sharing

    sessions = (
        await db.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at))
    ).all()
    attempts = (
        await db.scalars(select(LoginAttempt).where(LoginAttempt.email == user.email).order_by(LoginAttempt.at))
    ).all()
    return {
        "exported_at": utcnow(),
        "account": await me(db, user),
        "sites": await registry.list_sites(db, user.id),
        "edge_devices": [await devices.get_device(db, user.id, d.id) for d in await devices.list_devices(db, user.id)],
        "footage_requests": await pagination.every_page(lambda before: requests.owner_requests(db, user.id, before)),
        # The conversations of those requests: the owner's messages and the investigators' replies.
        "request_messages": await requests.owner_messages(db, user.id),
        "clips_sent": await evidence.received_clips(db, user.id),
        "police_access": await pagination.every_page(lambda before: requests.access_log(db, user.id, before)),
        # Live video shared with the live desk: when, which cameras, who watched, who ended it.
        "shares": await sharing.owner_shares(db, user.id, share_policy or sharing.SharePolicy()),
        "sessions": [
            {"created_at": s.created_at, "last_seen_at": s.last_seen_at, "user_agent": s.user_agent, "ip": s.ip}
            for s in sessions
        ],
        "sign_in_attempts": [{"at": a.at, "ip": a.ip, "outcome": a.outcome} for a in attempts],
    }
