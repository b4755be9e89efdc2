"""District membership: an owner's row in a district, the sites joined members placed in it, their offline counts,
and the member's own side (which districts see what about them, and leaving).

The registry's service calls this module (which districts an owner's sites may be placed in, and what the district
knows of their business to fill in a new site), so it imports no other domain's service at import time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.db import utcnow
from backend.devices.models import DeviceCamera, EdgeDevice, Status
from backend.districts.invite_schemas import RosterDetailsOut
from backend.districts.models import District, DistrictMember, MemberSource, MemberStatus
from backend.districts.schemas import StepOut
from backend.districts.service import STEP_LABELS, Step, step_dates
from backend.errors import NotFound
from backend.registry import geo
from backend.registry.models import Camera, Site

# A member now: joined, or waiting for the coordinator's approval (listed rows have no account; left ones no more).
MEMBER_NOW = (MemberStatus.JOINED.value, MemberStatus.PENDING.value)
NO_MEMBERSHIP = "You are not a member of this district"

# What a district never sees of a member, in the member's words (the account page and the API say the same).
NEVER_SEES = (
    "Your video or any footage",
    "Footage requests from police, your answers and the clips you sent",
    "When police looked at your information (your access log)",
    "The contact details you gave the police for your sites (phone, email, hours, note for investigators)",
    "Your account's sign-in details (your Porchlight email address, password, sign-in code)",
    "Share-now sessions and live video",
)


# --- An owner's row in a district, and the sites joined members placed in it ---


async def member_row(
    db: AsyncSession,
    owner_id: uuid.UUID,
    district_id: uuid.UUID,
    statuses: Sequence[str] = MEMBER_NOW,
    *,
    for_update: bool = False,
) -> DistrictMember | None:
    """This owner's roster row in this district, if its status is one of `statuses` (None: not a member)."""
    query = select(DistrictMember).where(
        DistrictMember.district_id == district_id,
        DistrictMember.user_id == owner_id,
        DistrictMember.status.in_(statuses),
    )
    return await db.scalar(query.with_for_update() if for_update else query)


def site_of_joined_member(district_id: uuid.UUID | None = None) -> ColumnElement[bool]:
    """Join condition of a Site and DistrictMember: the site is placed in a district (`district_id`, or any) whose
    joined member its owner is. Only these sites, and their cameras and devices, are what a district sees."""
    condition = and_(
        DistrictMember.user_id == Site.owner_id,
        DistrictMember.district_id == Site.district_id,
        DistrictMember.status == MemberStatus.JOINED.value,
    )
    return condition if district_id is None else and_(condition, Site.district_id == district_id)


class OfflineNow(msgspec.Struct, kw_only=True):
    """Counts only, from the edge devices on joined members' in-district sites."""

    devices_paired: int
    devices_offline: int
    device_cameras: int  # cameras the devices report on
    device_cameras_offline: int


async def offline_now(db: AsyncSession, district_id: uuid.UUID, owner_id: uuid.UUID | None = None) -> OfflineNow:
    """How many devices (and the cameras they report on) on joined members' sites in the district are offline now:
    the coordinator's coverage counts, and with `owner_id` one member's share of them (what they are told the
    district sees)."""
    owner = [Site.owner_id == owner_id] if owner_id is not None else []
    paired = EdgeDevice.paired_at.is_not(None)
    offline = paired & (EdgeDevice.status == Status.OFFLINE.value)
    devices = (
        await db.execute(
            select(func.count().filter(paired), func.count().filter(offline))
            .select_from(EdgeDevice)
            .join(Site, Site.id == EdgeDevice.site_id)
            .join(DistrictMember, site_of_joined_member(district_id))
            .where(*owner)
        )
    ).one()
    cameras = (
        await db.execute(
            select(func.count(), func.count().filter(DeviceCamera.status == Status.OFFLINE.value))
            .select_from(DeviceCamera)
            .join(EdgeDevice, EdgeDevice.id == DeviceCamera.device_id)
            .join(Site, Site.id == EdgeDevice.site_id)
            .join(DistrictMember, site_of_joined_member(district_id))
            .where(*owner)
        )
    ).one()
    return OfflineNow(
        devices_paired=devices[0], devices_offline=devices[1], device_cameras=cameras[0],
        device_cameras_offline=cameras[1],
    )  # fmt: skip


# --- What the owner's registry needs ---


@dataclass(frozen=True)
class JoinedDistrict:
    id: uuid.UUID
    name: str


async def joined_districts(db: AsyncSession, owner_id: uuid.UUID) -> list[JoinedDistrict]:
    """The districts this owner is a joined member of (by name): the ones a site of theirs may be part of."""
    rows = await db.execute(
        select(District.id, District.name)
        .join(DistrictMember, DistrictMember.district_id == District.id)
        .where(DistrictMember.user_id == owner_id, DistrictMember.status == MemberStatus.JOINED.value)
        .order_by(District.name)
    )
    return [JoinedDistrict(id, name) for id, name in rows]


async def is_joined_member(db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID) -> bool:
    return await member_row(db, owner_id, district_id, [MemberStatus.JOINED.value]) is not None


async def site_prefill(db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID) -> dict[str, Any] | None:
    """A new site's form filled from what the owner's business gave the district (name, address, position), and
    ticked as part of the district once they are a joined member; None if they are not a member (or are pending
    no more)."""
    member = await member_row(db, owner_id, district_id)
    if member is None:
        return None
    values: dict[str, Any] = {"name": member.business_name, "kind": "business", "address": member.address}
    if member.latitude is not None and member.longitude is not None:
        values.update(latitude=member.latitude, longitude=member.longitude)
    if member.status == MemberStatus.JOINED.value:
        values["district_id"] = str(district_id)
    return values


# --- The member's side: which district sees what about them, and leaving ---


class DistrictSiteOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    address: str


class DistrictCameraOut(msgspec.Struct, kw_only=True):
    site: str
    name: str
    latitude: float
    longitude: float
    bearing_deg: int
    facing: str
    field_of_view_deg: int
    range_m: int


class MyDistrictOut(msgspec.Struct, kw_only=True):
    """One district the owner is a member of, and what it sees of them."""

    district_id: uuid.UUID
    district: str
    status: MemberStatus  # joined, or pending the coordinator's approval
    roster: RosterDetailsOut
    steps: list[StepOut]  # how far along the onboarding the district sees them, with dates
    sites: list[DistrictSiteOut]  # their sites that are part of the district
    cameras: list[DistrictCameraOut]  # where the cameras of those sites are and which way they point
    devices_offline: int  # counts only: the district sees no device or camera names
    cameras_offline: int
    never_sees: list[str]


async def my_districts(db: AsyncSession, user: User, district_id: uuid.UUID | None = None) -> list[MyDistrictOut]:
    """Each district the person is a member of (joined, or pending approval; only `district_id` if given), with
    what it sees of them: the roster's details, the funnel steps and their dates, the sites they placed in the
    district with their cameras' positions and directions, and how many devices and cameras are offline (counts)."""
    # Imported here: the requests domain imports the registry, whose service imports this module.

    steps = step_dates()
    query = (
        select(DistrictMember, District.name, *(column.label(step.value) for step, column in steps.items()))
        .join(District, District.id == DistrictMember.district_id)
        .where(DistrictMember.user_id == user.id, DistrictMember.status.in_(MEMBER_NOW))
        .order_by(District.name)
    )
    if district_id is not None:
        query = query.where(DistrictMember.district_id == district_id)
    rows = (await db.execute(query)).all()
    if not rows:
        return []
    sites = list(
        await db.scalars(
            select(Site)
            .join(DistrictMember, site_of_joined_member())
            .where(Site.owner_id == user.id)
            .order_by(Site.name, Site.id)
        )
    )
    cameras = (
        await db.execute(
            select(Camera, Site.name, Site.district_id)
            .join(Site, Site.id == Camera.site_id)
            .join(DistrictMember, site_of_joined_member())
            .where(Site.owner_id == user.id)
            .order_by(Site.name, Camera.name, Camera.id)
        )
    ).all()
    found = []
    for row in rows:
        member, name = row[0], row[1]
        offline = await offline_now(db, member.district_id, user.id)
        found.append(
            MyDistrictOut(
                district_id=member.district_id,
                district=name,
                status=MemberStatus(member.status),
                roster=roster_details(member),
                steps=[StepOut(step=s.value, label=STEP_LABELS[s], reached_at=getattr(row, s.value)) for s in Step],
                sites=[
                    DistrictSiteOut(id=s.id, name=s.name, address=s.address)
                    for s in sites
                    if s.district_id == member.district_id
                ],
                cameras=[
                    DistrictCameraOut(
                        site=site_name,
                        name=c.name,
                        latitude=c.latitude,
                        longitude=c.longitude,
                        bearing_deg=c.bearing_deg,
                        facing=geo.compass_point(c.bearing_deg),
                        field_of_view_deg=c.field_of_view_deg,
                        range_m=c.range_m,
                    )  # fmt: skip
                    for c, site_name, placed_in in cameras
                    if placed_in == member.district_id
                ],
                devices_offline=offline.devices_offline,
                cameras_offline=offline.device_cameras_offline,
                never_sees=list(NEVER_SEES),
            )
        )
    return found


def roster_details(member: DistrictMember) -> RosterDetailsOut:
    return RosterDetailsOut(
        business_name=member.business_name, contact_name=member.contact_name, email=member.email, phone=member.phone,
        address=member.address,
    )  # fmt: skip


async def membership_of(db: AsyncSession, user: User, district_id: uuid.UUID) -> MyDistrictOut:
    """One of the person's districts (for the confirmation before leaving); not a member: NotFound."""
    found = await my_districts(db, user, district_id)
    if not found:
        raise NotFound(NO_MEMBERSHIP)
    return found[0]


async def leave_district(db: AsyncSession, user: User, district_id: uuid.UUID) -> str:
    """The member leaves (a pending member withdraws), in one transaction: marked left, their account unlinked from
    the roster row, what the row held of them cleared but the business's name (the coordinator sees which business
    left, and nothing more), and their sites are no longer part of the district. Returns the district's name.
    Not a member: NotFound."""
    member = await member_row(db, user.id, district_id, for_update=True)
    if member is None:
        raise NotFound(NO_MEMBERSHIP)
    district = await db.get_one(District, district_id)
    member.status, member.left_at, member.user_id = MemberStatus.LEFT.value, utcnow(), None
    member.contact_name = member.email = member.phone = member.address = ""
    member.latitude = member.longitude = None
    if member.source == MemberSource.DISTRICT_LINK.value:
        # Its key was made of what the member gave (or of their account): freed, so they can join again later.
        member.match_key = f"left:{member.id}"
    await db.execute(
        update(Site)
        .where(Site.owner_id == user.id, Site.district_id == district_id)
        .values(district_id=None)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    return district.name
