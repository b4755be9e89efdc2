"""Business improvement districts: what a coordinator sees of their own district, and nothing of any other.

Every query is scoped to the coordinator's district: another district's member is a 404. A coordinator sees what a
member gave the district (the roster row) and how far along the onboarding funnel they are (dates and counts);
never footage, footage requests, police access, or the contact details an owner gave the police.
"""

from __future__ import annotations

import enum
import re
import uuid

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.devices.models import EdgeDevice
from backend.districts.models import District, DistrictMember
from backend.errors import NotFound
from backend.registry.models import Camera, Site

NO_DISTRICT = "Your account is not linked to a district yet. Ask an administrator to set it."
NO_MEMBER = "No such member in your district"


async def district_name(db: AsyncSession, coordinator: User) -> str | None:
    """The name of the district this coordinator works for (None if an administrator has not set one)."""
    district = await db.get(District, coordinator.district_id) if coordinator.district_id else None
    return district.name if district else None


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
    """The onboarding funnel, in order. Each step's date is when the member first reached it."""

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
    Step.SHARE_ON_ALERT: "Share on alert allowed",
}


def _in_district_sites() -> ColumnElement[bool]:
    """The member's own sites that they placed in the district (correlated to the DistrictMember row)."""
    return (Site.owner_id == DistrictMember.user_id) & (Site.district_id == DistrictMember.district_id)


def step_dates() -> dict[Step, ColumnElement]:
    """When each member reached each step, as columns correlated to DistrictMember (NULL: not yet).

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


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _normalise_words(text: str) -> str:
    """Casefolded, punctuation and runs of whitespace made one space: "Joe's  Bakery, Inc." is "joe s bakery inc"."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


def match_key(business_name: str, email: str = "", address: str = "") -> str:
    """How the roster recognises a business (an added member, an imported row): its normalised email if it has one,
    else its normalised name and address. Two rows with one key are one member."""
    if email.strip():
        return normalise_email(email)
    return f"name:{_normalise_words(business_name)}|{_normalise_words(address)}"
