"""Invites: a member's personal link (emailed or printed on a QR poster), the district-wide link for a meeting, and
joining through either.

Tokens are not stored: they are derived. A personal invite signs (member id, invite_version); raising the version
revokes every copy, emailed or printed. It works until invite_expires_at, for one account: once the member joined,
the link says it has been used. The district-wide link signs (district id, join_link_version); whoever joins through
it waits, as a pending member, for the coordinator's approval.

Coordinator actions are scoped to the coordinator's district (another district's member is NotFound); an invite
email goes through the outbox in the action's transaction, never over SMTP inside the request.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hmac
import io
import re
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import segno
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Role, User
from backend.db import utcnow
from backend.districts import membership, service
from backend.districts.invite_schemas import (
    InviteOut,
    InviteState,
    JoinIn,
    JoinLinkAction,
    JoinLinkOut,
    JoinOut,
    PendingOut,
)
from backend.districts.models import District, DistrictMember, MemberSource, MemberStatus
from backend.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, TooManyAttempts
from backend.local_time import DEFAULT_ZONE
from backend.notifications.mail import send_email
from backend.registry.models import Site
from backend.settings import Settings
from backend.tokens import sign
from backend.validation import field_errors, labels, parse_form

INVITE_LIFETIME = dt.timedelta(days=90)
NUDGE_INTERVAL = dt.timedelta(hours=24)  # at most one invite email per member in this time
DISTRICT_DAILY_EMAILS = 200  # at most this many invite emails per district in 24 hours
JOIN_PATH = "/join/"
JOIN_LABELS = labels(JoinIn)
_MAC_BYTES = 16  # 128 bits of HMAC-SHA256
_ID = r"[A-Za-z0-9_-]{22}"  # 16 bytes (a UUID) in unpadded base64url
TOKEN_SHAPE = re.compile(rf"^(d\.)?{_ID}\.{_ID}$")
_OLD_VERSIONS_CHECKED = 100  # how far back a withdrawn link is still recognised as one (not as an unknown link)


# --- Tokens ---


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _member_mac(secret: str, member_id: uuid.UUID, version: int) -> str:
    return sign(secret, f"member-invite:{member_id}:{version}", _MAC_BYTES)


def _district_mac(secret: str, district_id: uuid.UUID, version: int) -> str:
    return sign(secret, f"district-join:{district_id}:{version}", _MAC_BYTES)


def member_token(secret: str, member: DistrictMember) -> str:
    return f"{_b64(member.id.bytes)}.{_member_mac(secret, member.id, member.invite_version)}"


def district_token(secret: str, district: District) -> str:
    return f"d.{_b64(district.id.bytes)}.{_district_mac(secret, district.id, district.join_link_version)}"


def invite_link(settings: Settings, member: DistrictMember) -> str:
    return settings.link(JOIN_PATH + member_token(settings.secret_key, member))


def district_link(settings: Settings, district: District) -> str:
    return settings.link(JOIN_PATH + district_token(settings.secret_key, district))


def checked_token(value: object) -> str:
    """The value if it has the shape of an invite token (to carry through sign-up and sign-in), else ""."""
    return value if isinstance(value, str) and TOKEN_SHAPE.match(value) else ""


@dataclass(frozen=True)
class _Parsed:
    district_wide: bool
    id: uuid.UUID
    mac: str


def _parse(token: str) -> _Parsed | None:
    if not TOKEN_SHAPE.match(token):
        return None
    district_wide = token.startswith("d.")
    encoded_id, mac = token.removeprefix("d.").split(".")
    try:
        raw = base64.urlsafe_b64decode(encoded_id + "==")
        return _Parsed(district_wide, uuid.UUID(bytes=raw), mac) if len(raw) == 16 else None
    except ValueError:
        return None


def _signed_version(parsed: _Parsed, secret: str, current: int) -> int | None:
    """The version (the current one or an earlier one) the token's MAC signs, or None for a token never made here."""
    mac_of = _district_mac if parsed.district_wide else _member_mac
    for version in range(current, max(0, current - _OLD_VERSIONS_CHECKED), -1):
        if hmac.compare_digest(parsed.mac, mac_of(secret, parsed.id, version)):
            return version
    return None


# --- Times in words ---


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes: they are UTC."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _day(value: dt.datetime, time_zone: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%B %-d, %Y")


def _moment(value: dt.datetime, time_zone: str) -> str:
    return value.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%b %-d, %Y %-I:%M %p %Z")


# --- A member's personal invite, as the coordinator sees it ---


def invite_state(member: DistrictMember, now: dt.datetime | None = None) -> InviteState:
    now = now or utcnow()
    if member.status == MemberStatus.JOINED.value:
        return InviteState.USED
    if member.status != MemberStatus.LISTED.value:
        return InviteState.NONE
    if member.invite_revoked_at is not None:
        return InviteState.REVOKED
    expires = _aware(member.invite_expires_at)
    if expires is None:
        return InviteState.NOT_SENT
    return InviteState.EXPIRED if expires <= now else InviteState.VALID


def next_email_at(member: DistrictMember, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the next invite email may go to this member (None: now)."""
    last = _aware(member.last_emailed_at)
    if last is None or last + NUDGE_INTERVAL <= (now or utcnow()):
        return None
    return last + NUDGE_INTERVAL


def invite_out(member: DistrictMember, settings: Settings) -> InviteOut:
    """The member's invite for their coordinator (pages and API): its state, and its link while it works."""
    now = utcnow()
    state = invite_state(member, now)
    return InviteOut(
        member_id=member.id, state=state,
        link=invite_link(settings, member) if state is InviteState.VALID else None,
        invited_at=_aware(member.invited_at), expires_at=_aware(member.invite_expires_at),
        revoked_at=_aware(member.invite_revoked_at), last_emailed_at=_aware(member.last_emailed_at),
        emails_sent=member.emails_sent, next_email_at=next_email_at(member, now),
    )  # fmt: skip


# --- Coordinator actions on a member's invite ---

LEFT = "{name} left the district on {day}. A member who left cannot be invited again through this roster row."
ALREADY_JOINED = "{name} has already joined: their invite was used."
PENDING_NO_INVITE = (
    "{name} joined through the district-wide link and waits for your approval: approve them on the district link page."
)
NO_EMAIL = "{name} has no email address on the roster. Add one to their details, or print a poster for a visit."


def _refuse_uninvitable(member: DistrictMember, time_zone: str) -> None:
    name = member.business_name
    if member.status == MemberStatus.LEFT.value:
        left = _aware(member.left_at)
        raise Conflict(LEFT.format(name=name, day=_day(left, time_zone) if left else "an earlier day"))
    if member.status == MemberStatus.JOINED.value:
        raise Conflict(ALREADY_JOINED.format(name=name))
    if member.status == MemberStatus.PENDING.value:
        raise Conflict(PENDING_NO_INVITE.format(name=name))


def _issue(member: DistrictMember, now: dt.datetime) -> None:
    """The invite works from now for INVITE_LIFETIME (a re-send extends it; a revoked one is issued anew: its old
    copies stay dead, the version was raised when it was revoked)."""
    member.invite_revoked_at = None
    member.invited_at = member.invited_at or now
    member.invite_expires_at = now + INVITE_LIFETIME


async def _district_emails_today(db: AsyncSession, district_id: uuid.UUID, now: dt.datetime) -> list[dt.datetime]:
    """When each of the district's invite emails of the last 24 hours went (one member gets at most one a day, so
    members emailed in the window are emails in the window)."""
    found = await db.scalars(
        select(DistrictMember.last_emailed_at).where(
            DistrictMember.district_id == district_id, DistrictMember.last_emailed_at > now - NUDGE_INTERVAL
        )
    )
    return sorted(at for value in found if (at := _aware(value)) is not None)


async def send_invite(db: AsyncSession, settings: Settings, coordinator: User, member_id: uuid.UUID) -> InviteOut:
    """Email the member their personal invite (a first invite, or a nudge: the same link, valid 90 days from now).
    At most one per member per 24 hours and DISTRICT_DAILY_EMAILS per district; the email goes through the outbox
    in this transaction."""
    district = await service.coordinated_district(db, coordinator)
    member = await service.member_of(db, district.id, member_id)
    zone = coordinator.time_zone
    _refuse_uninvitable(member, zone)
    if not member.email:
        raise InvalidInput({"email": NO_EMAIL.format(name=member.business_name)})
    now = utcnow()
    if (next_at := next_email_at(member, now)) is not None:
        last = _aware(member.last_emailed_at)
        assert last is not None
        raise TooManyAttempts(
            f"An invite email went to {member.business_name} on {_moment(last, zone)}. Porchlight sends one at most "
            f"every 24 hours: you can send it again after {_moment(next_at, zone)}.",
            int((next_at - now).total_seconds()) + 1,
        )
    sent = await _district_emails_today(db, district.id, now)
    if len(sent) >= DISTRICT_DAILY_EMAILS:
        again = sent[len(sent) - DISTRICT_DAILY_EMAILS] + NUDGE_INTERVAL
        raise TooManyAttempts(
            f"{district.name} has sent {len(sent)} invite emails in the last 24 hours, the most Porchlight sends for "
            f"one district in a day. You can send more after {_moment(again, zone)}, or print posters meanwhile.",
            int((again - now).total_seconds()) + 1,
        )
    _issue(member, now)
    # Claimed with a condition, so two taps at once send one email.
    claimed = await db.execute(
        update(DistrictMember)
        .where(
            DistrictMember.id == member.id,
            or_(DistrictMember.last_emailed_at.is_(None), DistrictMember.last_emailed_at <= now - NUDGE_INTERVAL),
        )
        .values(last_emailed_at=now, emails_sent=DistrictMember.emails_sent + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        name = member.business_name  # read before the rollback expires it
        await db.rollback()
        raise TooManyAttempts(f"An invite email to {name} was just sent.", int(NUDGE_INTERVAL.total_seconds()))
    member.last_emailed_at, member.emails_sent = now, member.emails_sent + 1
    await _email_invite(db, settings, district, member, zone)
    await db.commit()
    return invite_out(member, settings)


async def _email_invite(
    db: AsyncSession, settings: Settings, district: District, member: DistrictMember, time_zone: str
) -> None:
    expires = _aware(member.invite_expires_at)
    assert expires is not None
    greeting = f"Hello {member.contact_name}," if member.contact_name else "Hello,"
    text = (
        f"{greeting}\n\n"
        f"{district.name} invites {member.business_name} to the community camera program on Porchlight.\n\n"
        "Registering your security cameras tells investigators, minutes after an incident, that video may exist "
        "and whom to ask. It shares where your cameras are and how to reach you, never your video: footage leaves "
        "only when you answer a request.\n\n"
        f"Open this link to create your account and register {member.business_name}:\n\n"
        f"{invite_link(settings, member)}\n\n"
        f"The link works until {_day(expires, time_zone)}, for one account. "
        f"{district.name} will see your business details on its roster, whether you registered cameras in the "
        "district and where they point, and how many of your devices are offline; never your footage, police "
        "requests or police access to your information.\n\n"
        f"If you did not expect this, ignore this email or ask {district.name}.\n"
    )
    await send_email(
        db, to=member.email, user_id=member.user_id, ttl=dt.timedelta(days=7),
        subject=f"{district.name} invites {member.business_name} to Porchlight", text=text,
    )  # fmt: skip


async def revoke_invite(db: AsyncSession, settings: Settings, coordinator: User, member_id: uuid.UUID) -> InviteOut:
    """Every copy of the member's invite (emailed or printed) stops working; a new one can be sent or printed."""
    district = await service.coordinated_district(db, coordinator)
    member = await service.member_of(db, district.id, member_id)
    _refuse_uninvitable(member, coordinator.time_zone)
    if invite_state(member) not in (InviteState.VALID, InviteState.EXPIRED):
        raise Conflict(f"{member.business_name} has no invite to revoke.")
    member.invite_version += 1
    member.invite_revoked_at = utcnow()
    await db.commit()
    return invite_out(member, settings)


async def print_poster(db: AsyncSession, settings: Settings, coordinator: User, member_id: uuid.UUID) -> InviteOut:
    """A poster is about to be printed: the member counts as invited, and the link works 90 days from now."""
    district = await service.coordinated_district(db, coordinator)
    member = await service.member_of(db, district.id, member_id)
    _refuse_uninvitable(member, coordinator.time_zone)
    _issue(member, utcnow())
    await db.commit()
    return invite_out(member, settings)


def qr_svg(link: str, title: str) -> str:
    """The link as an inline SVG QR code (scales with its box: no width or height of its own, no style)."""
    return segno.make(link, error="m").svg_inline(scale=1, border=4, omitsize=True, svgclass="qr-code", title=title)


def qr_svg_file(link: str, title: str) -> bytes:
    """The link as a standalone SVG file for printing (a fixed size that prints sharp at any scale)."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="svg", scale=12, border=4, title=title)
    return buffer.getvalue()


@dataclass(frozen=True)
class Poster:
    """A print-ready poster for one member (or the whole district); `link` is None until a poster was asked for
    (and while the invite does not work)."""

    district: str
    business_name: str | None  # None: the district-wide poster
    member_id: uuid.UUID | None
    link: str | None
    expires_at: dt.datetime | None
    state: InviteState | None
    svg: str


async def member_poster(db: AsyncSession, settings: Settings, coordinator: User, member_id: uuid.UUID) -> Poster:
    """What the member's poster shows; no link before "Print a poster" marked them invited (a read changes nothing)."""
    district = await service.coordinated_district(db, coordinator)
    member = await service.member_of(db, district.id, member_id)
    invite = invite_out(member, settings)
    svg = qr_svg(invite.link, f"QR code: invite for {member.business_name}") if invite.link else ""
    return Poster(district.name, member.business_name, member.id, invite.link, invite.expires_at, invite.state, svg)


async def member_poster_file(
    db: AsyncSession, settings: Settings, coordinator: User, member_id: uuid.UUID
) -> tuple[str, bytes]:
    """The member's QR code as an SVG file (name, content); Conflict while their invite does not work."""
    poster = await member_poster(db, settings, coordinator, member_id)
    if poster.link is None:
        raise Conflict(f"{poster.business_name} has no working invite: press “Print a poster” first.")
    return _file_name(poster.business_name or "member"), qr_svg_file(poster.link, f"Invite for {poster.business_name}")


def _file_name(name: str) -> str:
    return "invite-" + (re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "member") + ".svg"


# --- The district-wide link ---


def _pending_out(member: DistrictMember) -> PendingOut:
    details = msgspec.structs.asdict(membership.roster_details(member))
    return PendingOut(id=member.id, created_at=_aware(member.created_at), **details)


async def join_link(db: AsyncSession, settings: Settings, coordinator: User) -> JoinLinkOut:
    """The district's link for a meeting, its state, and who joined through it and waits for approval."""
    district = await service.coordinated_district(db, coordinator)
    pending = await db.scalars(
        select(DistrictMember)
        .where(DistrictMember.district_id == district.id, DistrictMember.status == MemberStatus.PENDING.value)
        .order_by(DistrictMember.created_at, DistrictMember.id)
    )
    return JoinLinkOut(
        link=district_link(settings, district), enabled=district.join_link_enabled,
        version=district.join_link_version, pending=[_pending_out(m) for m in pending],
    )  # fmt: skip


async def district_poster(db: AsyncSession, settings: Settings, coordinator: User) -> Poster:
    district = await service.coordinated_district(db, coordinator)
    link = district_link(settings, district) if district.join_link_enabled else None
    svg = qr_svg(link, f"QR code: join {district.name}") if link else ""
    return Poster(district.name, None, None, link, None, None, svg)


async def district_poster_file(db: AsyncSession, settings: Settings, coordinator: User) -> tuple[str, bytes]:
    poster = await district_poster(db, settings, coordinator)
    if poster.link is None:
        raise Conflict("The district link is turned off: turn it on first.")
    return _file_name(poster.district), qr_svg_file(poster.link, f"Join {poster.district}")


async def change_join_link(
    db: AsyncSession, settings: Settings, coordinator: User, action: JoinLinkAction
) -> JoinLinkOut:
    """Turn the district link on or off, or make a new one (every copy of the old one stops working)."""
    district = await service.coordinated_district(db, coordinator)
    if action is JoinLinkAction.RENEW:
        district.join_link_version += 1
        district.join_link_enabled = True
    else:
        district.join_link_enabled = action is JoinLinkAction.ENABLE
    await db.commit()
    return await join_link(db, settings, coordinator)


async def _pending_member(db: AsyncSession, coordinator: User, member_id: uuid.UUID) -> DistrictMember:
    district = await service.coordinated_district(db, coordinator)
    member = await service.member_of(db, district.id, member_id)
    if member.status != MemberStatus.PENDING.value:
        raise Conflict(f"{member.business_name} is not waiting for approval.")
    return member


async def approve(db: AsyncSession, coordinator: User, member_id: uuid.UUID) -> JoinOut:
    """A business that joined through the district link becomes a member: it may place its sites in the district."""
    member = await _pending_member(db, coordinator, member_id)
    member.status = MemberStatus.JOINED.value
    member.joined_at = utcnow()
    district = await db.get_one(District, member.district_id)
    await db.commit()
    return JoinOut(
        district_id=district.id, district_name=district.name, member_id=member.id,
        business_name=member.business_name, status=MemberStatus.JOINED,
    )  # fmt: skip


async def decline(db: AsyncSession, coordinator: User, member_id: uuid.UUID) -> str:
    """A business that joined through the district link is not a member: its row goes (its account stays).
    Returns its name."""
    member = await _pending_member(db, coordinator, member_id)
    name = member.business_name
    await db.delete(member)
    await db.commit()
    return name


# --- Joining, as the person who opened a link sees it ---

WHAT_THE_DISTRICT_SEES = (
    "The business details on its roster: the name, address and contact you gave it.",
    "Whether you registered cameras at a site you placed in the district, and where they point.",
    "How many of your devices are offline, as a count.",
)
WHAT_IT_NEVER_SEES = "Never your footage, police requests to you, or police access to your information."
ASK = "Ask {district}’s coordinator for a new invite."


class Problem(enum.StrEnum):
    """Why a link does not work."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED = "used"
    LEFT = "left"
    OFF = "off"  # the district link is turned off
    RENEWED = "renewed"  # the district link was replaced by a new one


# Each problem's status, title and what to do ({district}, {business} and {day} filled in).
PROBLEMS: dict[Problem, tuple[int, str, str]] = {
    Problem.UNKNOWN: (
        404, "This invite link is not known",
        "The link may be mistyped or cut short. Open it again from the email or scan the poster again; if it still "
        "does not work, ask the district for a new invite.",
    ),
    Problem.EXPIRED: (410, "This invite has expired", "It worked until {day}. " + ASK),
    Problem.REVOKED: (
        410, "This invite was withdrawn", "{district} withdrew this link (a newer one may have been sent). " + ASK
    ),
    Problem.USED: (
        410, "This invite has been used",
        "An account was already created with it: an invite works for one account. If that was not you, "
        "ask {district}’s coordinator for a new invite.",
    ),
    Problem.LEFT: (
        410, "This invite no longer works",
        "{business} left {district}. To join again, ask the coordinator for the district’s link.",
    ),
    Problem.OFF: (
        410, "This district link is turned off",
        "{district} is not taking new members through this link now. Ask the coordinator.",
    ),
    Problem.RENEWED: (
        410, "This district link was replaced",
        "{district} made a new link; this one no longer works. Ask the coordinator for the new one.",
    ),
}  # fmt: skip


class Viewer(enum.Enum):
    ANONYMOUS = "anonymous"
    OWNER = "owner"  # a camera owner who can join
    NOT_OWNER = "not_owner"  # signed in with an account that cannot own cameras
    MEMBER = "member"  # an owner who is already a member of the district (joined or waiting)


@dataclass(frozen=True)
class JoinView:
    """What /join/{token} shows: the district, the business (personal invite), and what the viewer can do."""

    token: str
    district_wide: bool
    district_id: uuid.UUID | None
    district: str
    business_name: str
    contact_name: str
    email: str
    address: str
    expires_at: dt.datetime | None
    problem: Problem | None
    problem_detail: str
    viewer: Viewer
    membership: str  # for a viewer who is a member already: their status (joined, pending)
    time_zone: str  # the viewer's, for the times shown (the default zone for someone not signed in)

    @property
    def status_code(self) -> int:
        if self.problem is not None:
            return PROBLEMS[self.problem][0]
        return 403 if self.viewer is Viewer.NOT_OWNER else 200

    @property
    def problem_title(self) -> str:
        return PROBLEMS[self.problem][1] if self.problem else ""


@dataclass(frozen=True)
class _Found:
    district: District | None
    member: DistrictMember | None
    problem: Problem | None


async def _resolve(db: AsyncSession, settings: Settings, token: str) -> _Found:
    """The district (and member) a token is for, and why it does not work, if it does not. Changes nothing."""
    parsed = _parse(token)
    if parsed is None:
        return _Found(None, None, Problem.UNKNOWN)
    if parsed.district_wide:
        district = await db.get(District, parsed.id)
        if district is None:
            return _Found(None, None, Problem.UNKNOWN)
        version = _signed_version(parsed, settings.secret_key, district.join_link_version)
        if version is None:
            return _Found(None, None, Problem.UNKNOWN)
        if version != district.join_link_version:
            return _Found(district, None, Problem.RENEWED)
        return _Found(district, None, None if district.join_link_enabled else Problem.OFF)
    member = await db.get(DistrictMember, parsed.id)
    if member is None:
        return _Found(None, None, Problem.UNKNOWN)
    version = _signed_version(parsed, settings.secret_key, member.invite_version)
    if version is None:
        return _Found(None, None, Problem.UNKNOWN)
    district = await db.get_one(District, member.district_id)
    if member.status == MemberStatus.LEFT.value:
        return _Found(district, member, Problem.LEFT)
    if member.status == MemberStatus.JOINED.value or member.user_id is not None:
        return _Found(district, member, Problem.USED)
    if version != member.invite_version or member.invite_revoked_at is not None:
        return _Found(district, member, Problem.REVOKED)
    expires = _aware(member.invite_expires_at)
    if expires is None:  # signed, but never sent or printed: not an invite yet
        return _Found(None, None, Problem.UNKNOWN)
    if expires <= utcnow():
        return _Found(district, member, Problem.EXPIRED)
    return _Found(district, member, None)


async def join_view(db: AsyncSession, settings: Settings, token: str, viewer: User | None) -> JoinView:
    """The landing page of an invite link. Reading it changes nothing."""
    found = await _resolve(db, settings, token)
    district, member, problem = found.district, found.member, found.problem
    zone = viewer.time_zone if viewer else DEFAULT_ZONE
    who, status = Viewer.ANONYMOUS, ""
    if viewer is not None:
        who = Viewer.OWNER if viewer.has_role(Role.OWNER) else Viewer.NOT_OWNER
        mine = await membership.member_row(db, viewer.id, district.id) if district and who is Viewer.OWNER else None
        if mine is not None:
            who, status = Viewer.MEMBER, mine.status
            if problem is Problem.USED and member is not None and member.id == mine.id:
                problem = None  # their own invite, used by them: they are told they joined
    expires = _aware(member.invite_expires_at) if member else None
    names = {
        "district": district.name if district else "the district",
        "business": member.business_name if member else "",
        "day": _day(expires, zone) if expires else "",
    }
    return JoinView(
        token=token, district_wide=token.startswith("d."), district_id=district.id if district else None,
        district=district.name if district else "", business_name=member.business_name if member else "",
        contact_name=member.contact_name if member else "", email=member.email if member else "",
        address=member.address if member else "", expires_at=expires, problem=problem,
        problem_detail=PROBLEMS[problem][2].format(**names) if problem else "", viewer=who, membership=status,
        time_zone=zone,
    )  # fmt: skip


ALREADY_MEMBER = "You are already a member of {district}, as {business}."
NOT_AN_OWNER = (
    "Only camera owner accounts can join a district, and you are signed in with an account that does not own "
    "cameras. Sign out, then open the link again to create an owner account for the business."
)


def _problem_error(problem: Problem, names: dict[str, str]) -> NotFound | Gone:
    status, title, detail = PROBLEMS[problem]
    error = NotFound(detail.format(**names)) if status == 404 else Gone(detail.format(**names))
    error.title = title
    return error


async def accept(
    db: AsyncSession, settings: Settings, owner: User, token: str, details: JoinIn | None = None
) -> JoinOut:
    """The signed-in owner accepts an invite: a personal one links them to its roster row (joined, for this one
    account only); the district-wide one makes them a pending member with the details they give (`details`)."""
    if not owner.has_role(Role.OWNER):
        raise Forbidden(NOT_AN_OWNER)
    found = await _resolve(db, settings, token)
    district, member = found.district, found.member
    if found.problem is not None or district is None:
        expires = _aware(member.invite_expires_at) if member else None
        raise _problem_error(found.problem or Problem.UNKNOWN, {
            "district": district.name if district else "the district",
            "business": member.business_name if member else "",
            "day": _day(expires, owner.time_zone) if expires else "",
        })  # fmt: skip
    mine = await membership.member_row(db, owner.id, district.id)
    if mine is not None and mine.status == MemberStatus.JOINED.value:
        raise Conflict(ALREADY_MEMBER.format(district=district.name, business=mine.business_name))
    if mine is not None and mine.status == MemberStatus.PENDING.value:
        raise Conflict(f"You already asked to join {district.name} as {mine.business_name}: it waits for approval.")
    if member is not None:
        return await _link_member(db, owner, district, member)
    return await _join_pending(db, owner, district, details)


async def _link_member(db: AsyncSession, owner: User, district: District, member: DistrictMember) -> JoinOut:
    now, owner_id = utcnow(), owner.id
    # Read before a rollback expires the rows.
    district_id, district_name, member_id, business_name = district.id, district.name, member.id, member.business_name
    try:
        # One account only: the row is claimed only while nobody has it (two people accepting at once: one wins).
        claimed = await db.execute(
            update(DistrictMember)
            .where(
                DistrictMember.id == member.id, DistrictMember.user_id.is_(None),
                DistrictMember.status == MemberStatus.LISTED.value,
                DistrictMember.invite_version == member.invite_version,
            )
            .values(user_id=owner.id, status=MemberStatus.JOINED.value, joined_at=now)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if claimed.rowcount == 1:
            await db.commit()
    except IntegrityError as exc:  # one owner, two invites of this district accepted at once: the other one won
        await db.rollback()
        mine = await membership.member_row(db, owner_id, district_id)
        business = mine.business_name if mine is not None else business_name
        raise Conflict(ALREADY_MEMBER.format(district=district_name, business=business)) from exc
    if claimed.rowcount != 1:
        await db.rollback()
        raise Gone(PROBLEMS[Problem.USED][2].format(district=district_name))
    return JoinOut(
        district_id=district_id, district_name=district_name, member_id=member_id, business_name=business_name,
        status=MemberStatus.JOINED,
    )  # fmt: skip


async def _join_pending(db: AsyncSession, owner: User, district: District, details: JoinIn | None) -> JoinOut:
    details = details or JoinIn()
    if missing := _missing_details(msgspec.structs.asdict(details)):
        raise InvalidInput(missing)
    # Only what the person sent: a contact left blank stays blank (never the account's name or sign-in email).
    values = {
        "business_name": details.business_name.strip(), "address": details.address.strip(),
        "contact_name": details.contact_name.strip(), "email": details.email.strip(), "phone": details.phone.strip(),
    }  # fmt: skip
    key = service.match_key(values["business_name"], values["email"], values["address"])
    taken = await db.scalar(
        select(DistrictMember.id).where(DistrictMember.district_id == district.id, DistrictMember.match_key == key)
    )
    if taken is not None:  # the business is on the roster already: the coordinator sees both and decides
        key = f"link:{owner.id}"
    now = utcnow()
    member = DistrictMember(
        district_id=district.id, status=MemberStatus.PENDING.value, source=MemberSource.DISTRICT_LINK.value,
        match_key=key, user_id=owner.id, invited_at=now, **values,
    )  # fmt: skip
    db.add(member)
    asked_twice = f"You already asked to join {district.name}."  # said before the rollback expires the district
    try:
        await db.commit()
    except IntegrityError as exc:  # the same owner asking twice at once
        await db.rollback()
        raise Conflict(asked_twice) from exc
    return JoinOut(
        district_id=district.id, district_name=district.name, member_id=member.id,
        business_name=member.business_name, status=MemberStatus.PENDING,
    )  # fmt: skip


def _missing_details(values: Mapping[str, Any]) -> dict[str, str]:
    """The district link's required details (the body is optional, so the Struct cannot require them)."""
    return {
        name: f"{JOIN_LABELS[name]} is required"
        for name in ("business_name", "address")
        if not str(values.get(name) or "").strip()
    }


def join_form(values: Mapping[str, Any]) -> JoinIn:
    """The district link's join form: every wrong or missing field at once, in the form's order."""
    errors = {**field_errors(JoinIn, values, form=True), **_missing_details(values)}
    if errors:
        raise InvalidInput({name: errors[name] for name in JOIN_LABELS if name in errors})
    return parse_form(JoinIn, values)


async def has_sites(db: AsyncSession, owner: User) -> bool:
    return await db.scalar(select(func.count()).select_from(Site).where(Site.owner_id == owner.id)) > 0


async def next_step(db: AsyncSession, owner: User, joined: JoinOut) -> str:
    """Where an owner goes right after joining: a joined member without sites to the new-site form, filled from
    the roster and ticked as part of the district; anyone else to choose which of their sites are in it."""
    if joined.status == MemberStatus.JOINED and not await has_sites(db, owner):
        return f"/sites/new?district={joined.district_id}"
    return f"/joined/{joined.district_id}"


async def after_sign_in(db: AsyncSession, settings: Settings, user: User, token: str) -> str:
    """Where someone who signed up or signed in from an invite goes: a personal invite is accepted and they go on to
    their next step; the district-wide link leads back to its form (they give their business details there); a
    link that does not work (or cannot be accepted by this account) to its page, which says why."""
    token = checked_token(token)
    if not token:
        return ""
    if token.startswith("d."):
        return JOIN_PATH + token
    try:
        joined = await accept(db, settings, user, token)
    except (Conflict, Forbidden, Gone, NotFound):
        return JOIN_PATH + token
    return await next_step(db, user, joined)


@dataclass(frozen=True)
class InvitedPerson:
    """What sign-up and sign-in show and fill in for a person coming from an invite."""

    token: str
    district: str
    business_name: str
    values: dict[str, str]  # the sign-up form's fields filled from the roster


async def invited_person(db: AsyncSession, settings: Settings, token: object) -> InvitedPerson | None:
    """The invite a sign-up or sign-in page carries, if it works (None: none, or one that does not)."""
    checked = checked_token(token)
    found = await _resolve(db, settings, checked) if checked else None
    if found is None or found.problem is not None or found.district is None:
        return None
    member = found.member
    values = {"display_name": member.contact_name, "email": member.email} if member else {}
    return InvitedPerson(checked, found.district.name, member.business_name if member else "", values)


# --- Right after joining: the owner's sites in the district ---


@dataclass(frozen=True)
class OwnSite:
    id: uuid.UUID
    name: str
    address: str
    in_district: bool


@dataclass(frozen=True)
class Joined:
    district_id: uuid.UUID
    district: str
    business_name: str
    status: MemberStatus
    sites: list[OwnSite]


async def joined(db: AsyncSession, owner: User, district_id: uuid.UUID) -> Joined:
    """The owner's membership of a district (joined or waiting for approval) and their sites; NotFound if they are
    not a member."""
    district = await db.get(District, district_id)
    mine = await membership.member_row(db, owner.id, district_id) if district else None
    if district is None or mine is None:
        raise NotFound(membership.NO_MEMBERSHIP)
    sites = await db.execute(
        select(Site.id, Site.name, Site.address, DistrictMember.id.is_not(None))
        .outerjoin(DistrictMember, membership.site_of_joined_member(district_id))
        .where(Site.owner_id == owner.id)
        .order_by(Site.name, Site.id)
    )
    return Joined(
        district.id, district.name, mine.business_name, MemberStatus(mine.status),
        [OwnSite(id, name, address, bool(placed)) for id, name, address, placed in sites],
    )  # fmt: skip
