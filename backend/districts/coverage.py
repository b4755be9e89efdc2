"""A district's camera coverage, as its coordinator sees it: where joined members' cameras look, how many there are,
how many are offline now, and which blocks have no outward-facing camera yet (where to recruit next).

Only the cameras of sites a JOINED member placed in the district count. Per camera the coordinator sees its
position and view (bearing, field of view, range, indoor or outdoor), its block, and the member's business name from
the roster: never the camera's or the site's own names, the owner's account, or the contact details the owner gave
the police. Offline is counts only. Another district's coordinator reads none of it (every query is scoped to the
coordinator's own district).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections import Counter
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.districts import service
from backend.districts.membership import OfflineNow, offline_now, site_of_joined_member
from backend.districts.models import DistrictMember, MemberStatus
from backend.errors import InvalidInput
from backend.registry import geo
from backend.registry.models import Camera, Placement, Site
from backend.registry.service import block_of

PAGE_SIZE = 100  # cameras on a page of the list
PAGE_MAX = 500  # the most the API gives at once
UNCOVERED_SHOWN = 200  # blocks to recruit on, the most members first
NO_BLOCK = "Address without a house number"
BAD_CURSOR = "This link to the next cameras is not one Porchlight made; start again from the first page"


class CoverageCamera(msgspec.Struct, kw_only=True):
    """A registered camera of a joined member, at a site in the district."""

    id: uuid.UUID
    block: str  # "2400 block of N Holton St"; empty when the site's address has no house number
    business_name: str  # from the district's roster
    latitude: float
    longitude: float
    bearing_deg: int
    field_of_view_deg: int
    range_m: int
    placement: str  # indoor or outdoor
    outside_boundary: bool  # the district has a boundary and the camera is not inside it


class UncoveredBlock(msgspec.Struct, kw_only=True):
    """A block where a roster member or an in-district site is, and no outward-facing camera of the district."""

    block: str
    members: int  # roster members (not those who left) whose address is on the block
    sites: int  # in-district sites of joined members on the block (with indoor cameras only, or none)


class CoverageTotals(msgspec.Struct, kw_only=True):
    members_joined: int
    sites: int
    cameras: int
    outdoor_cameras: int
    cameras_outside_boundary: int | None  # None when the district has no boundary


class Coverage(msgspec.Struct, kw_only=True):
    district: str
    boundary: dict[str, Any] | None  # a GeoJSON Polygon geometry, [longitude, latitude]
    totals: CoverageTotals
    offline: OfflineNow
    uncovered_blocks: list[UncoveredBlock]  # the first UNCOVERED_SHOWN, the most members first
    uncovered_blocks_total: int
    cameras: list[CoverageCamera]  # one page, by street, block and business
    next_cursor: str | None  # pass as `after` for the next page; None on the last


def _camera_rows(district_id: uuid.UUID) -> Any:
    return (
        select(
            Camera.id,
            Camera.latitude,
            Camera.longitude,
            Camera.bearing_deg,
            Camera.field_of_view_deg,
            Camera.range_m,
            Camera.placement,
            Site.address,
            DistrictMember.business_name,
        )  # fmt: skip
        .join(Site, Site.id == Camera.site_id)
        .join(DistrictMember, site_of_joined_member(district_id))
    )


_BLOCK = re.compile(r"^(\d+) block of (.+)$")


def block_order(block: str) -> tuple[int, str, int]:
    """Blocks by street, then house numbers up the street; blocks without a house number last."""
    if match := _BLOCK.match(block):
        return (0, match.group(2).lower(), int(match.group(1)))
    return (1, block.lower(), 0)


def _camera_key(camera: CoverageCamera) -> list[Any]:
    return [*block_order(camera.block), camera.business_name.lower(), str(camera.id)]


def _cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _after(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput({"after": BAD_CURSOR}) from exc
    shape = [int, str, int, str, str]
    if not isinstance(key, list) or [type(part) for part in key] != shape:
        raise InvalidInput({"after": BAD_CURSOR})
    return key


async def _uncovered_blocks(
    db: AsyncSession, district_id: uuid.UUID, cameras: list[CoverageCamera]
) -> tuple[list[UncoveredBlock], int]:
    """Blocks of roster members' addresses and in-district sites where no outdoor camera of the district is."""
    member_addresses = await db.scalars(
        select(DistrictMember.address).where(
            DistrictMember.district_id == district_id, DistrictMember.status != MemberStatus.LEFT.value
        )
    )
    members = Counter(block for address in member_addresses if (block := block_of(address)))
    site_addresses = await db.scalars(select(Site.address).join(DistrictMember, site_of_joined_member(district_id)))
    sites = Counter(block for address in site_addresses if (block := block_of(address)))
    covered = {c.block for c in cameras if c.placement == Placement.OUTDOOR.value and c.block}
    uncovered = [
        UncoveredBlock(block=block, members=members[block], sites=sites[block])
        for block in (set(members) | set(sites)) - covered
    ]
    uncovered.sort(key=lambda b: (-b.members, block_order(b.block)))
    return uncovered[:UNCOVERED_SHOWN], len(uncovered)


async def district_coverage(
    db: AsyncSession, coordinator: User, after: str | None = None, limit: int = PAGE_SIZE
) -> Coverage:
    """The coordinator's district's coverage: totals, offline counts, uncovered blocks, and one page of cameras
    (`limit` after the cursor `after`), by street and block. A district holds hundreds to a few thousand cameras:
    each is read to count it, to place it against the boundary and to order the list; a page returns `limit`."""
    district = await service.coordinated_district(db, coordinator)
    limit = max(1, min(limit, PAGE_MAX))
    start = _after(after) if after else None
    boundary = district.boundary
    cameras = []
    for row in await db.execute(_camera_rows(district.id)):
        outside = boundary is not None and not geo.point_in_polygon(row.latitude, row.longitude, boundary)
        cameras.append(
            CoverageCamera(
                id=row.id, block=block_of(row.address), business_name=row.business_name, latitude=row.latitude,
                longitude=row.longitude, bearing_deg=row.bearing_deg, field_of_view_deg=row.field_of_view_deg,
                range_m=row.range_m, placement=row.placement, outside_boundary=outside,
            )
        )  # fmt: skip
    members_joined = await db.scalar(
        select(func.count())
        .select_from(DistrictMember)
        .where(DistrictMember.district_id == district.id, DistrictMember.status == MemberStatus.JOINED.value)
    )
    sites = await db.scalar(
        select(func.count()).select_from(Site).join(DistrictMember, site_of_joined_member(district.id))
    )
    totals = CoverageTotals(
        members_joined=members_joined or 0,
        sites=sites or 0,
        cameras=len(cameras),
        outdoor_cameras=sum(c.placement == Placement.OUTDOOR.value for c in cameras),
        cameras_outside_boundary=sum(c.outside_boundary for c in cameras) if boundary is not None else None,
    )
    uncovered, uncovered_total = await _uncovered_blocks(db, district.id, cameras)
    cameras.sort(key=_camera_key)
    if start is not None:
        cameras = [camera for camera in cameras if _camera_key(camera) > start]
    page = cameras[:limit]
    return Coverage(
        district=district.name, boundary=boundary, totals=totals, offline=await offline_now(db, district.id),
        uncovered_blocks=uncovered, uncovered_blocks_total=uncovered_total, cameras=page,
        next_cursor=_cursor(_camera_key(page[-1])) if len(cameras) > limit else None,
    )  # fmt: skip


def blocks_of(cameras: list[CoverageCamera]) -> list[tuple[str, list[CoverageCamera]]]:
    """A page's cameras by block, in the page's order (the list's groups), for the page's table."""
    groups: list[tuple[str, list[CoverageCamera]]] = []
    for camera in cameras:
        name = camera.block or NO_BLOCK
        if groups and groups[-1][0] == name:
            groups[-1][1].append(camera)
        else:
            groups.append((name, [camera]))
    return groups
