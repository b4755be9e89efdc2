"""District membership as the owner's registry needs it: which districts an owner has joined (their sites may be
placed in those, and only those), and what the district knows of their business to fill in a new site.

It reads the district tables only and imports no other domain's service, so the registry's service can call it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.districts.models import District, DistrictMember, MemberStatus


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
    found = await db.scalar(
        select(DistrictMember.id).where(
            DistrictMember.user_id == owner_id,
            DistrictMember.district_id == district_id,
            DistrictMember.status == MemberStatus.JOINED.value,
        )
    )
    return found is not None


async def site_prefill(db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID) -> dict[str, Any] | None:
    """A new site's form filled from what the owner's business gave the district (name, address, position), and
    ticked as part of the district once they are a joined member; None if they are not a member (or are pending
    no more)."""
    member = await db.scalar(
        select(DistrictMember).where(
            DistrictMember.user_id == owner_id,
            DistrictMember.district_id == district_id,
            DistrictMember.status.in_([MemberStatus.JOINED.value, MemberStatus.PENDING.value]),
        )
    )
    if member is None:
        return None
    values: dict[str, Any] = {"name": member.business_name, "kind": "business", "address": member.address}
    if member.latitude is not None and member.longitude is not None:
        values.update(latitude=member.latitude, longitude=member.longitude)
    if member.status == MemberStatus.JOINED.value:
        values["district_id"] = str(district_id)
    return values
