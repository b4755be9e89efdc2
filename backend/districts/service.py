"""Business improvement districts: what a coordinator sees of their own district, and nothing of any other.

Every query is scoped to the coordinator's district: another district's member is a 404. A coordinator sees what a
member gave the district (the roster row) and how far along the onboarding funnel they are (dates and counts);
never footage, footage requests, police access, or the contact details an owner gave the police.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row, Select, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend import pagination
from backend.accounts.models import User
from backend.accounts.service import normalize_email
from backend.db import utcnow
from backend.devices.models import EdgeDevice
from backend.districts.models import District, DistrictMember, MemberSource, MemberStatus
from backend.districts.schemas import MemberIn
from backend.errors import Conflict, InvalidInput, NotFound
from backend.registry.models import Camera, Site

NO_DISTRICT = "Your account is not linked to a district yet. Ask an administrator to set it."
NO_MEMBER = "No such member in your district"


async def coordinated_district(db: AsyncSession, coordinator: User) -> District:
    """The district this coordinator works for; NotFound (with what to do) if an administrator has not set one."""
    district = await db.get(District, coordinator.district_id) if coordinator.district_id else None
    if district is None:
        raise NotFound(NO_DISTRICT)
    return district


async def member_of(db: AsyncSession, district_id: uuid.UUID, member_id: uuid.UUID) -> DistrictMember:
    """A member of this district; another district's member (or none) is NotFound, never someone else's data."""
    member = await db.scalar(
        select(DistrictMember).where(DistrictMember.id == member_id, DistrictMember.district_id == district_id)
    )
    if member is None:
        raise NotFound(NO_MEMBER)
    return member


class Step(enum.StrEnum):
    """The onboarding funnel, in order. Each step's date is read from what the member has now, not from a history:
    invited and account are the roster's dates; site, cameras and device the earliest of those the member has in the
    district now (one deleted no longer counts); share on alert the earliest moment since which one of their devices
    has had it on without a break. Share on alert is a permission the owner may take back: turned off on every
    device, the step is not reached (again), and turned on later it dates from then."""

    INVITED = "invited"
    ACCOUNT = "account"
    SITE = "site"
    CAMERAS = "cameras"
    DEVICE = "device"
    SHARE_ON_ALERT = "share_on_alert"


STEP_LABELS = {
    Step.INVITED: "Invited",
    Step.ACCOUNT: "Account created",
    Step.SITE: "Site registered",
    Step.CAMERAS: "Cameras registered",
    Step.DEVICE: "Device paired",
    Step.SHARE_ON_ALERT: "Share on alert allowed",  # now: dated since when it has been on
}


def _in_district_sites() -> ColumnElement[bool]:
    """The member's own sites that they placed in the district (correlated to the DistrictMember row)."""
    return (Site.owner_id == DistrictMember.user_id) & (Site.district_id == DistrictMember.district_id)


def step_dates() -> dict[Step, ColumnElement]:
    """The date of each member's steps (see `Step`), as columns correlated to DistrictMember (NULL: not reached).

    Sites, cameras and devices count only where the member placed the site in the district; a member who left has
    no linked account, so nothing past "left" is read."""
    sites = _in_district_sites()
    return {
        Step.INVITED: DistrictMember.invited_at,
        Step.ACCOUNT: DistrictMember.joined_at,
        Step.SITE: select(func.min(Site.created_at)).where(sites).scalar_subquery(),
        Step.CAMERAS: select(func.min(Camera.created_at)).join(Site, Camera.site_id == Site.id).where(sites)
        .scalar_subquery(),
        Step.DEVICE: select(func.min(EdgeDevice.paired_at)).join(Site, EdgeDevice.site_id == Site.id).where(sites)
        .scalar_subquery(),
        Step.SHARE_ON_ALERT: select(func.min(EdgeDevice.share_on_alert_since))
        .join(Site, EdgeDevice.site_id == Site.id).where(sites).scalar_subquery(),
    }  # fmt: skip


def members_with_steps(district_id: uuid.UUID) -> Select:
    """A select of the district's members with one labelled date column per funnel step (`Step` values)."""
    return select(DistrictMember, *(column.label(step.value) for step, column in step_dates().items())).where(
        DistrictMember.district_id == district_id
    )


# --- The roster's identity of a business ---

_NOT_WORD = re.compile(r"[\W_]+")


def normalise_words(text: str) -> str:
    """Casefolded, punctuation and runs of whitespace made one space: "Joe's  Bakery, Inc." is "joe s bakery inc"."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


def match_key(business_name: str, email: str = "", address: str = "") -> str:
    """How the roster recognises a business (an added member, an imported row): its normalised email if it has one,
    else its normalised name and address. Two rows with one key are one member."""
    if email.strip():
        return normalize_email(email)
    return f"name:{normalise_words(business_name)}|{normalise_words(address)}"


# --- The roster: rows with their funnel, district totals, one member ---

PAGE_SIZE = 100
NUDGE_AFTER = dt.timedelta(days=7)
NUDGE_INVITE = "Invited over a week ago; no account yet"
NUDGE_SITE = "Joined over a week ago; no site registered yet"
NOT_REMOVABLE = (
    "{name} has joined: a member who joined leaves the district themselves, from their account. You cannot remove them."
)
DUPLICATE = "{name} is already on the roster with this {what}"


@dataclass(frozen=True)
class RosterFilter:
    """What the roster shows: members with this status, who have not reached this step, who need a nudge, whose
    business name contains `search`, letter case aside: every letter on PostgreSQL, A-Z only on SQLite (its lower()
    folds ASCII only, so "école" misses "École" there; a casefolded column would be a schema change)."""

    status: MemberStatus | None = None
    missing: Step | None = None
    nudge: bool = False
    search: str = ""

    @property
    def active(self) -> bool:
        return bool(self.status or self.missing or self.nudge or self.search.strip())


@dataclass(frozen=True)
class RosterRow:
    """One member as the coordinator sees them: the roster row and the date of each funnel step (None: not yet)."""

    member: DistrictMember
    steps: dict[Step, dt.datetime | None]
    needs_nudge: str | None

    @property
    def furthest(self) -> tuple[Step, dt.datetime] | None:
        """The last funnel step reached, with its date."""
        reached = [(step, at) for step, at in self.steps.items() if at is not None]
        return reached[-1] if reached else None


@dataclass(frozen=True)
class RosterPage:
    rows: list[RosterRow]
    next_cursor: str | None  # "after" for the next page


@dataclass(frozen=True)
class StepCount:
    step: Step
    label: str
    reached: int
    percent: int  # of the members (not counting those who left), whole number 0-100


@dataclass(frozen=True)
class Totals:
    """The district's funnel across all its members (one query)."""

    district: str
    members: int  # not counting those who left
    by_status: dict[MemberStatus, int]
    needs_nudge: int
    steps: list[StepCount]


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes (and MIN() over a subquery loses the column type): they are UTC."""
    if isinstance(value, str):  # MIN() over a subquery on SQLite may answer the stored text
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _nudge_conditions(now: dt.datetime, dates: dict[Step, ColumnElement]) -> ColumnElement[bool]:
    cutoff = now - NUDGE_AFTER
    return or_(
        and_(DistrictMember.status == MemberStatus.LISTED.value, DistrictMember.invited_at < cutoff),
        and_(
            DistrictMember.status == MemberStatus.JOINED.value,
            DistrictMember.joined_at < cutoff,
            dates[Step.SITE].is_(None),
        ),
    )


def needs_nudge(member: DistrictMember, steps: dict[Step, dt.datetime | None], now: dt.datetime) -> str | None:
    """Why this member needs a reminder: invited over a week ago with no account yet, or joined over a week ago
    with no site in the district; None otherwise."""
    cutoff = now - NUDGE_AFTER
    invited, joined = _as_utc(member.invited_at), _as_utc(member.joined_at)
    if member.status == MemberStatus.LISTED and invited is not None and invited < cutoff:
        return NUDGE_INVITE
    if member.status == MemberStatus.JOINED and joined is not None and joined < cutoff and steps[Step.SITE] is None:
        return NUDGE_SITE
    return None


def _row(found: Row, now: dt.datetime) -> RosterRow:
    member = found[0]
    steps = {step: _as_utc(found._mapping[step.value]) for step in Step}
    return RosterRow(member, steps, needs_nudge(member, steps, now))


def _filtered(query: Select, roster_filter: RosterFilter, dates: dict[Step, ColumnElement], now: dt.datetime) -> Select:
    if roster_filter.status is not None:
        query = query.where(DistrictMember.status == roster_filter.status.value)
    if roster_filter.missing is not None:
        query = query.where(dates[roster_filter.missing].is_(None))
    if roster_filter.nudge:
        query = query.where(_nudge_conditions(now, dates))
    if search := roster_filter.search.strip():
        query = query.where(func.lower(DistrictMember.business_name).contains(search.lower(), autoescape=True))
    return query


async def roster_page(
    db: AsyncSession,
    coordinator: User,
    roster_filter: RosterFilter = RosterFilter(),  # noqa: B008 - frozen
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> RosterPage:
    """One page of the coordinator's district's members in business-name order, after the cursor (keyset paging:
    (business_name, id) > the last row's, never OFFSET), at most PAGE_SIZE."""
    district = await coordinated_district(db, coordinator)
    limit = max(1, min(limit, PAGE_SIZE))
    now = utcnow()
    dates = step_dates()
    query = _filtered(members_with_steps(district.id), roster_filter, dates, now)
    if after:
        name, member_id = pagination.decode_values(after, (str, uuid.UUID), field="after")
        query = query.where(
            or_(
                DistrictMember.business_name > name,
                and_(DistrictMember.business_name == name, DistrictMember.id > member_id),
            )
        )
    found = (await db.execute(query.order_by(DistrictMember.business_name, DistrictMember.id).limit(limit + 1))).all()
    rows = [_row(item, now) for item in found[:limit]]
    if len(found) <= limit:
        return RosterPage(rows, None)
    last = rows[-1].member
    return RosterPage(rows, pagination.encode_values(last.business_name, last.id))


async def totals(db: AsyncSession, coordinator: User) -> Totals:
    """How many of the district's members reached each funnel step, per status, and how many need a nudge: one
    query over all members (those who left count in `by_status` only)."""
    district = await coordinated_district(db, coordinator)
    now = utcnow()
    dates = step_dates()
    staying = DistrictMember.status != MemberStatus.LEFT.value
    columns = [func.count(case((and_(staying, column.is_not(None)), 1))).label(s.value) for s, column in dates.items()]
    columns += [
        func.count(case((DistrictMember.status == status.value, 1))).label(f"status_{status.value}")
        for status in MemberStatus
    ]
    columns.append(func.count(case((_nudge_conditions(now, dates), 1))).label("nudge"))
    found = (await db.execute(select(*columns).where(DistrictMember.district_id == district.id))).one()._mapping
    by_status = {status: int(found[f"status_{status.value}"]) for status in MemberStatus}
    members = sum(by_status.values()) - by_status[MemberStatus.LEFT]
    steps = [
        StepCount(step, STEP_LABELS[step], int(found[step.value]),
                  round(100 * int(found[step.value]) / members) if members else 0)
        for step in Step
    ]  # fmt: skip
    return Totals(district.name, members, by_status, int(found["nudge"]), steps)


async def roster_row(db: AsyncSession, coordinator: User, member_id: uuid.UUID) -> RosterRow:
    """One member of the coordinator's district with its funnel; another district's member is NotFound."""
    district = await coordinated_district(db, coordinator)
    found = (await db.execute(members_with_steps(district.id).where(DistrictMember.id == member_id))).one_or_none()
    if found is None:
        raise NotFound(NO_MEMBER)
    return _row(found, utcnow())


# --- Adding, editing and removing members ---

MEMBER_FIELDS = ("business_name", "contact_name", "email", "phone", "address", "latitude", "longitude")


def position_problem(latitude: float | None, longitude: float | None) -> dict[str, str]:
    """Both or neither: the field that is missing its other half."""
    if latitude is not None and longitude is None:
        return {"longitude": "Longitude is required when a latitude is given (or leave both empty)"}
    if longitude is not None and latitude is None:
        return {"latitude": "Latitude is required when a longitude is given (or leave both empty)"}
    return {}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {name: values.get(name) for name in MEMBER_FIELDS}
    for name in ("business_name", "contact_name", "phone", "address"):
        cleaned[name] = (cleaned[name] or "").strip()
    cleaned["email"] = normalize_email(cleaned["email"] or "")
    return cleaned


async def _refuse_duplicate(db: AsyncSession, district_id: uuid.UUID, values: dict[str, Any], but: uuid.UUID | None):
    key = match_key(values["business_name"], values["email"], values["address"])
    query = select(DistrictMember.business_name).where(
        DistrictMember.district_id == district_id, DistrictMember.match_key == key
    )
    if but is not None:
        query = query.where(DistrictMember.id != but)
    if (existing := await db.scalar(query)) is not None:
        field, what = ("email", "email") if values["email"] else ("business_name", "name and address")
        raise InvalidInput({field: DUPLICATE.format(name=existing, what=what)})
    return key


async def _commit_member(db: AsyncSession, member: DistrictMember, values: dict[str, Any]) -> None:
    """Commit; a member saved with the same key meanwhile (two tabs, an import) is the duplicate message."""
    try:
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        field = "email" if values["email"] else "business_name"
        raise InvalidInput({field: f"{values['business_name']} was just added to the roster by someone else"}) from exc


async def add_member(db: AsyncSession, coordinator: User, member: MemberIn) -> RosterRow:
    """A member added by hand (listed, not invited: invites are their own step)."""
    district = await coordinated_district(db, coordinator)
    values = _clean(msgspec.structs.asdict(member))
    if problem := position_problem(values["latitude"], values["longitude"]):
        raise InvalidInput(problem)
    key = await _refuse_duplicate(db, district.id, values, None)
    added = DistrictMember(district_id=district.id, source=MemberSource.MANUAL.value, match_key=key, **values)
    db.add(added)
    await _commit_member(db, added, values)
    return await roster_row(db, coordinator, added.id)


async def update_member(
    db: AsyncSession, coordinator: User, member_id: uuid.UUID, changes: dict[str, Any]
) -> RosterRow:
    """What the district knows of a member, corrected (a PATCH's fields, or the whole form)."""
    district = await coordinated_district(db, coordinator)
    member = await member_of(db, district.id, member_id)
    values = _clean({**{name: getattr(member, name) for name in MEMBER_FIELDS}, **changes})
    if problem := position_problem(values["latitude"], values["longitude"]):
        raise InvalidInput(problem)
    member.match_key = await _refuse_duplicate(db, district.id, values, member.id)
    for name, value in values.items():
        setattr(member, name, value)
    await _commit_member(db, member, values)
    return await roster_row(db, coordinator, member.id)


async def remove_member(db: AsyncSession, coordinator: User, member_id: uuid.UUID) -> str:
    """Take a member who has not joined off the roster (their invite stops working with them); a joined member
    leaves by themselves. Answers the removed business's name."""
    district = await coordinated_district(db, coordinator)
    member = await member_of(db, district.id, member_id)
    if member.status == MemberStatus.JOINED:
        raise Conflict(NOT_REMOVABLE.format(name=member.business_name))
    name = member.business_name
    await db.delete(member)
    await db.commit()
    return name


# --- The roster as a CSV file ---

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_NUMBER = re.compile(r"\+[0-9 ().-]+")


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could run this text as a formula (OWASP CSV injection): it starts with =, +, -, @, tab
    or CR. A phone number (+ followed only by digits, spaces, dots, dashes and parentheses) is not one: it can name
    no function and no other cell. The import warns of these cells; the export quotes them."""
    return text.startswith(_FORMULA_START) and _PHONE_NUMBER.fullmatch(text) is None


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula: one that starts like a formula gets a single quote before it."""
    return f"'{text}" if starts_like_formula(text) else text


def _iso(value: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    return value.astimezone(zone).isoformat(timespec="seconds") if value else ""


async def roster_csv(db: AsyncSession, coordinator: User) -> tuple[str, str]:
    """The whole roster as CSV text with each step's date (ISO 8601, in the coordinator's zone, which the header
    names), safe to open in a spreadsheet; and a file name for it."""
    district = await coordinated_district(db, coordinator)
    zone = zoneinfo.ZoneInfo(coordinator.time_zone)
    now = utcnow()
    found = await db.execute(members_with_steps(district.id).order_by(DistrictMember.business_name, DistrictMember.id))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    zone_name = coordinator.time_zone
    writer.writerow(
        ["Business name", "Contact name", "Email", "Phone", "Street address", "Latitude", "Longitude", "Status",
         *(f"{STEP_LABELS[step]} ({zone_name})" for step in Step), f"Left ({zone_name})", "Needs a nudge"]
    )  # fmt: skip
    for item in found:
        row = _row(item, now)
        member = row.member
        text = [member.business_name, member.contact_name, member.email, member.phone, member.address]
        writer.writerow(
            [*(spreadsheet_safe(value) for value in text),
             "" if member.latitude is None else repr(member.latitude),
             "" if member.longitude is None else repr(member.longitude),
             member.status, *(_iso(row.steps[step], zone) for step in Step), _iso(_as_utc(member.left_at), zone),
             row.needs_nudge or ""]
        )  # fmt: skip
    slug = _NOT_WORD.sub("-", district.name.casefold()).strip("-") or "district"
    return out.getvalue(), f"{slug}-members-{now.astimezone(zone):%Y-%m-%d}.csv"
