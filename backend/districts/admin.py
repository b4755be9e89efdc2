"""Districts as administrators manage them: create, rename, set the boundary, list them with their coordinators.

The boundary is pasted (or drawn on the map, which writes the same text) as GeoJSON and stored normalised as a
Polygon geometry. The page and the `porchlight districts` command check it with the one function here,
`parse_boundary`, so both say the same words about what is wrong.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Role, User, UserRole
from backend.districts.models import District, DistrictMember, MemberStatus
from backend.errors import InvalidInput, NotFound

NAME_MAX = 200  # districts.name
BOUNDARY_MAX_VERTICES = 2000
BOUNDARY_TEXT_MAX = 200_000  # 2,000 corners of [-87.123456789, 43.123456789] with room for spacing
NO_DISTRICT = "No such district"
_SHAPES = "a Polygon geometry, a Feature with a Polygon, or a FeatureCollection with exactly one Polygon feature"


class BoundaryError(ValueError):
    """What is wrong with a pasted boundary, in words for the person who pasted it."""


def _polygon_of(value: Any) -> Any:
    """The Polygon geometry inside what was pasted (a geometry, a Feature or a one-feature FeatureCollection)."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise BoundaryError(f"The boundary must be a GeoJSON object: {_SHAPES}")
    kind = value["type"]
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list) or len(features) != 1:
            count = len(features) if isinstance(features, list) else 0
            raise BoundaryError(
                f"The FeatureCollection holds {count} features; it must hold exactly one, the district's Polygon"
            )
        return _polygon_of(features[0])
    if kind == "Feature":
        geometry = value.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
            found = geometry.get("type") if isinstance(geometry, dict) else "no geometry"
            raise BoundaryError(f"The Feature's geometry is {found}; it must be a Polygon")
        return geometry
    if kind != "Polygon":
        raise BoundaryError(f"The boundary is a {kind}; it must be {_SHAPES}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ring(positions: Any, which: str) -> list[list[float]]:
    """One ring as [[lon, lat], ...], closed (the first position repeated at the end if it was not)."""
    if not isinstance(positions, list):
        raise BoundaryError(f"The {which} must be a list of [longitude, latitude] positions")
    ring: list[list[float]] = []
    for number, position in enumerate(positions, start=1):
        if not isinstance(position, list) or len(position) < 2 or not all(_is_number(c) for c in position[:2]):
            raise BoundaryError(f"Position {number} of the {which} is not [longitude, latitude] in numbers")
        longitude, latitude = float(position[0]), float(position[1])
        if not -180 <= longitude <= 180:
            raise BoundaryError(
                f"Position {number} of the {which} has longitude {position[0]}: longitudes are between -180 and 180"
            )
        if not -90 <= latitude <= 90:
            raise BoundaryError(
                f"Position {number} of the {which} has latitude {position[1]}: latitudes are between -90 and 90 "
                "(GeoJSON puts the longitude first: [longitude, latitude])"
            )
        ring.append([longitude, latitude])
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))  # closed for the person: a drawn or hand-typed outline often is not
    if len(ring) < 4:
        raise BoundaryError(
            f"The {which} has {max(len(ring) - 1, 0)} corners; it needs at least 3 "
            "(4 positions, the first repeated at the end)"
        )
    return ring


def parse_boundary(text: str) -> dict[str, Any] | None:
    """A pasted boundary as a GeoJSON Polygon geometry in [longitude, latitude] order; None for empty text (no
    boundary). BoundaryError says what is wrong: not JSON, not a polygon, an open or short ring, a position out of
    range, more than BOUNDARY_MAX_VERTICES corners."""
    text = text.strip()
    if not text:
        return None
    if len(text) > BOUNDARY_TEXT_MAX:
        raise BoundaryError(f"The boundary is {len(text):,} characters long; at most {BOUNDARY_TEXT_MAX:,} fit")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoundaryError(
            f"The boundary is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "paste the GeoJSON as it was exported"
        ) from exc
    polygon = _polygon_of(value)
    rings = polygon.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise BoundaryError("The Polygon has no coordinates: it needs a list of rings of [longitude, latitude]")
    normalised = [_ring(ring, "outline" if i == 0 else f"hole {i}") for i, ring in enumerate(rings)]
    corners = sum(len(ring) - 1 for ring in normalised)
    if corners > BOUNDARY_MAX_VERTICES:
        raise BoundaryError(
            f"The boundary has {corners:,} corners; at most {BOUNDARY_MAX_VERTICES:,} are allowed. "
            "Simplify it first (most GIS tools can)"
        )
    return {"type": "Polygon", "coordinates": normalised}


def boundary_text(boundary: dict[str, Any] | None) -> str:
    """A stored boundary as the text the edit form shows (and the map drawing reads)."""
    return json.dumps(boundary) if boundary else ""


def _name_problem(name: str) -> str | None:
    if not name:
        return "Name is required"
    if len(name) > NAME_MAX:
        return f"Name must be at most {NAME_MAX} characters"
    return None


def check_district(name: str, boundary: str) -> tuple[str, dict[str, Any] | None]:
    """The form's name (spaces tidied) and boundary, checked together: InvalidInput names every wrong field."""
    checked_name, checked_boundary = " ".join(name.split()), None
    errors: dict[str, str] = {}
    if problem := _name_problem(checked_name):
        errors["name"] = problem
    try:
        checked_boundary = parse_boundary(boundary)
    except BoundaryError as exc:
        errors["boundary"] = f"Boundary: {exc}"
    if errors:
        raise InvalidInput(errors)
    return checked_name, checked_boundary


class Coordinator(NamedTuple):
    id: uuid.UUID
    display_name: str
    email: str
    disabled: bool


class DistrictSummary(NamedTuple):
    """A district on the administrators' list."""

    id: uuid.UUID
    name: str
    has_boundary: bool
    members: int  # on the roster, not counting those who left
    joined: int
    coordinators: list[Coordinator]


async def _coordinators(db: AsyncSession, district_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Coordinator]]:
    rows = await db.execute(
        select(User.district_id, User.id, User.display_name, User.email, User.disabled_at)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.district_id.in_(district_ids), UserRole.role == Role.COORDINATOR.value)
        .order_by(User.display_name, User.email)
    )
    found: dict[uuid.UUID, list[Coordinator]] = {}
    for district_id, user_id, name, email, disabled_at in rows:
        found.setdefault(district_id, []).append(Coordinator(user_id, name, email, disabled_at is not None))
    return found


async def _summaries(db: AsyncSession, districts: list[District]) -> list[DistrictSummary]:
    ids = [district.id for district in districts]
    counts = {
        district_id: (members, joined)
        for district_id, members, joined in await db.execute(
            select(
                DistrictMember.district_id,
                func.count(),
                func.count().filter(DistrictMember.status == MemberStatus.JOINED.value),
            )
            .where(DistrictMember.district_id.in_(ids), DistrictMember.status != MemberStatus.LEFT.value)
            .group_by(DistrictMember.district_id)
        )
    }
    coordinators = await _coordinators(db, ids)
    return [
        DistrictSummary(d.id, d.name, d.boundary is not None, *counts.get(d.id, (0, 0)), coordinators.get(d.id, []))
        for d in districts
    ]


async def list_districts(db: AsyncSession) -> list[DistrictSummary]:
    """Every district by name, with its coordinators, its roster's size and whether it has a boundary."""
    districts = list(await db.scalars(select(District).order_by(District.name)))
    return await _summaries(db, districts)


async def get_district(db: AsyncSession, district_id: uuid.UUID) -> District:
    district = await db.get(District, district_id)
    if district is None:
        raise NotFound(NO_DISTRICT)
    return district


async def district_summary(db: AsyncSession, district_id: uuid.UUID) -> DistrictSummary:
    return (await _summaries(db, [await get_district(db, district_id)]))[0]


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


async def _same_name(db: AsyncSession, name: str, but: uuid.UUID | None = None) -> tuple[uuid.UUID, str] | None:
    """The district whose name is this one, spaces and letter case aside. Compared here, in Python, over the few
    districts' names: SQLite's lower() folds only ASCII letters, so "ÉGLISE BID" would not be "Église BID" there."""
    wanted = _name_key(name)
    return next(((i, n) for i, n in (await db.execute(select(District.id, District.name))).tuples()
                 if i != but and _name_key(n) == wanted), None)  # fmt: skip


async def district_named(db: AsyncSession, name: str) -> District:
    """A district by its name (as the command line names it), spaces and letter case aside."""
    found = await _same_name(db, name)
    if found is None:
        raise NotFound(f"No district is named {name!r}; `porchlight districts list` shows them")
    return await get_district(db, found[0])


async def _refuse_taken_name(db: AsyncSession, name: str, keep: uuid.UUID | None = None) -> None:
    found = await _same_name(db, name, but=keep)
    if found is not None:
        raise InvalidInput({"name": f"A district named {found[1]} already exists; choose another name"})


async def _commit_or_name_taken(db: AsyncSession, name: str) -> None:
    try:
        await db.commit()
    except IntegrityError as exc:  # a district of this name was created at the same moment
        await db.rollback()
        raise InvalidInput({"name": f"A district named {name} already exists; choose another name"}) from exc


async def create_district(db: AsyncSession, name: str, boundary: str = "") -> District:
    """A new district; its name is its own (letter case aside), the boundary optional."""
    checked_name, checked_boundary = check_district(name, boundary)
    await _refuse_taken_name(db, checked_name)
    district = District(name=checked_name, boundary=checked_boundary)
    db.add(district)
    await _commit_or_name_taken(db, checked_name)
    return district


async def update_district(db: AsyncSession, district_id: uuid.UUID, name: str, boundary: str) -> District:
    """A new name and boundary (empty text removes the boundary); nothing is saved if either is wrong."""
    district = await get_district(db, district_id)
    checked_name, checked_boundary = check_district(name, boundary)
    await _refuse_taken_name(db, checked_name, keep=district.id)
    district.name, district.boundary = checked_name, checked_boundary
    await _commit_or_name_taken(db, checked_name)
    return district


async def set_boundary(db: AsyncSession, name: str, boundary: str) -> District:
    """The command line's `districts set-boundary NAME FILE`: the named district's boundary from a file's text."""
    district = await district_named(db, name)
    try:
        parsed = parse_boundary(boundary)
    except BoundaryError as exc:
        raise InvalidInput({"boundary": f"Boundary: {exc}"}) from exc
    if parsed is None:
        raise InvalidInput({"boundary": "Boundary: the file is empty"})
    district.boundary = parsed
    await db.commit()
    return district
