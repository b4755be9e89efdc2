"""Business improvement districts: what a coordinator sees of their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.districts.models import District


async def district_name(db: AsyncSession, coordinator: User) -> str | None:
    """The name of the district this coordinator works for (None if an administrator has not set one)."""
    district = await db.get(District, coordinator.district_id) if coordinator.district_id else None
    return district.name if district else None
