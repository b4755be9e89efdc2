"""The owner's registry: sites and cameras, always loaded scoped to their owner."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    String,
    Subquery,
    bindparam,
    case,
    func,
    lambda_stmt,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.db import utcnow
from backend.districts import membership
from backend.errors import InvalidInput, NotFound
from backend.hot_reads import HotRead
from backend.registry import geo, geocoder
from backend.registry.models import Camera, Placement, Recorder, Site, SiteKind
from backend.registry.schemas import CameraIn, CameraOut, CameraSearch, NearbyCamera, SiteIn, SiteOut
from backend.settings import Settings

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_FIELDS = ("name", "address", "contact_phone", "contact_email", "contact_hours", "investigator_note", "note")
SEARCH_RADIUS_M = (25, 2000)
_PLACEMENTS = {placement.value: placement for placement in Placement}
_RECORDERS = {recorder.value: recorder for recorder in Recorder}


class ProgramArea(NamedTuple):
    """Where the program's cameras are expected: a circle (PORCHLIGHT_PROGRAM_AREA)."""

    latitude: float
    longitude: float
    radius_km: float

    @classmethod
    def of(cls, settings: Settings) -> ProgramArea | None:
        return cls(*settings.program_area) if settings.program_area else None


# A position this close to 0, 0 is a position never filled in (an empty GPS fix, a blank form), not a camera.
_NULL_ISLAND_DEG = 0.001


def position_warning(latitude: float, longitude: float, area: ProgramArea | None) -> str | None:
    """Why a saved position looks wrong, if it does. A warning, not a refusal: the owner knows where they are."""
    if abs(latitude) < _NULL_ISLAND_DEG and abs(longitude) < _NULL_ISLAND_DEG:
        return (
            "The position is 0, 0, in the ocean off West Africa: usually a position that was never filled in. "
            "Investigators searching near this site will not find its cameras until you correct it."
        )
    if area is not None:
        distance_km = geo.haversine_m(latitude, longitude, area.latitude, area.longitude) / 1000
        if distance_km > area.radius_km:
            return (
                f"The position is {distance_km:,.0f} km from the centre of the program's area, which reaches "
                f"{area.radius_km:g} km. Check the latitude and longitude: investigators search near incidents "
                "in the area, so they may never find cameras placed outside it."
            )
    return None


async def position_of_address(geocoder_url: str, address: str) -> geocoder.Place:
    """The configured geocoder's best place for an address, or an error beside the address field."""
    if not address.strip():
        raise InvalidInput({"address": "Type the street address first, then find its position"})
    try:
        places = await geocoder.search(geocoder_url, address.strip())
    except geocoder.GeocoderUnavailable as exc:
        raise InvalidInput(
            {"address": "Address search is not available just now: give the latitude and longitude by hand"}
        ) from exc
    if not places:
        raise InvalidInput(
            {"address": "No place found for this address: check it, or give the latitude and longitude by hand"}
        )
    return places[0]


def camera_out(camera: Camera) -> CameraOut:
    return CameraOut(
        id=camera.id,
        site_id=camera.site_id,
        name=camera.name,
        latitude=camera.latitude,
        longitude=camera.longitude,
        bearing_deg=camera.bearing_deg,
        field_of_view_deg=camera.field_of_view_deg,
        range_m=camera.range_m,
        placement=Placement(camera.placement),
        recorder=Recorder(camera.recorder),
        retention_days=camera.retention_days,
        note=camera.note,
        paused=camera.paused_at is not None,
        paused_at=camera.paused_at,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
    )


def site_out(site: Site, cameras: list[CameraOut] | None = None, area: ProgramArea | None = None) -> SiteOut:
    """A site as the API gives it: an ORM object with its cameras, or a row and the cameras read beside it, and a
    warning if its position looks wrong (at 0, 0, or outside the program's area)."""
    return SiteOut(
        id=site.id,
        name=site.name,
        address=site.address,
        latitude=site.latitude,
        longitude=site.longitude,
        kind=SiteKind(site.kind),
        contact_phone=site.contact_phone,
        contact_email=site.contact_email,
        contact_hours=site.contact_hours,
        investigator_note=site.investigator_note,
        created_at=site.created_at,
        updated_at=site.updated_at,
        cameras=[camera_out(c) for c in site.cameras] if cameras is None else cameras,
        position_warning=position_warning(site.latitude, site.longitude, area),
        district_id=site.district_id,
    )


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if k in _TEXT_FIELDS and isinstance(v, str) else v for k, v in values.items()}


def _check_contact(site: Site) -> None:
    if not site.contact_phone and not site.contact_email:
        raise InvalidInput({"contact_phone": "Give a phone number or an email address so police can reach you"})
    if site.contact_email and not _EMAIL.match(site.contact_email):
        raise InvalidInput({"contact_email": "Contact email is not an email address (name@example.com)"})


NOT_A_MEMBER = "Part of a district must be a district you have joined"


async def _check_district(db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID | None) -> None:
    """A site may be part only of a district its owner is a joined member of (a pending or former member's: no)."""
    if district_id is not None and not await membership.is_joined_member(db, owner_id, district_id):
        raise InvalidInput({"district_id": NOT_A_MEMBER})


async def site_districts(db: AsyncSession, owner_id: uuid.UUID) -> list[membership.JoinedDistrict]:
    """The districts the owner's site form offers ("Part of ..."): the ones they joined."""
    return await membership.joined_districts(db, owner_id)


async def new_site_values(db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID | None) -> dict[str, Any]:
    """A new site's form: filled from what the owner's business gave the district (right after joining it), else
    a home."""
    prefill = await membership.site_prefill(db, owner_id, district_id) if district_id else None
    return prefill or {"kind": "home"}


async def place_sites_in_district(
    db: AsyncSession, owner_id: uuid.UUID, district_id: uuid.UUID, site_ids: Sequence[str]
) -> None:
    """The owner's ticked sites are part of the district from now on, and their others that were are not."""
    if not await membership.is_joined_member(db, owner_id, district_id):
        raise InvalidInput({"site_ids": "Your sites can be part of a district once it has approved you as a member"})
    sites = {site.id: site for site in await db.scalars(select(Site).where(Site.owner_id == owner_id))}
    try:
        ticked = {uuid.UUID(str(site_id)) for site_id in site_ids}
    except ValueError:
        ticked = None
    if ticked is None or ticked - sites.keys():
        raise InvalidInput({"site_ids": "Choose among your own sites"})
    for site_id, site in sites.items():
        if site_id in ticked:
            site.district_id = district_id
        elif site.district_id == district_id:
            site.district_id = None
    await db.commit()


async def _own_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    site = await db.scalar(
        select(Site).where(Site.id == site_id, Site.owner_id == owner_id).options(selectinload(Site.cameras))
    )
    if site is None:
        raise NotFound("No such site among yours")
    return site


async def _own_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> Camera:
    camera = await db.scalar(
        select(Camera).join(Site, Site.id == Camera.site_id).where(Camera.id == camera_id, Site.owner_id == owner_id)
    )
    if camera is None:
        raise NotFound("No such camera among yours")
    return camera


# An owner's sites, one row per camera (a site without cameras: one row, its camera all None). One round trip, on
# the driver (hot_reads): plain rows go straight into the answer.
_OWNER_SITES = HotRead(
    select(*Site.__table__.c, *Camera.__table__.c)
    .select_from(Site.__table__.outerjoin(Camera.__table__))
    .where(Site.__table__.c.owner_id == bindparam("owner_id"))
    .order_by(Site.__table__.c.name, Site.__table__.c.id, Camera.__table__.c.name, Camera.__table__.c.id),
    Site.__table__.c,
    Camera.__table__.c,
)


async def list_sites(db: AsyncSession, owner_id: uuid.UUID, area: ProgramArea | None = None) -> list[SiteOut]:
    sites: dict[uuid.UUID, tuple[Any, list[CameraOut]]] = {}
    for site, camera in await _OWNER_SITES.rows(db, owner_id=owner_id):
        cameras = sites.setdefault(site.id, (site, []))[1]
        if camera.id is not None:
            cameras.append(camera_out(camera))
    return [site_out(site, cameras, area) for site, cameras in sites.values()]


async def get_site(
    db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, area: ProgramArea | None = None
) -> SiteOut:
    return site_out(await _own_site(db, owner_id, site_id), area=area)


async def create_site(db: AsyncSession, owner_id: uuid.UUID, data: SiteIn, area: ProgramArea | None = None) -> SiteOut:
    await _check_district(db, owner_id, data.district_id)
    site = Site(owner_id=owner_id, cameras=[], **_clean(msgspec.structs.asdict(data)))
    _check_contact(site)
    db.add(site)
    await db.commit()
    return site_out(site, area=area)


async def update_site(
    db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, changes: dict[str, Any], area: ProgramArea | None = None
) -> SiteOut:
    site = await _own_site(db, owner_id, site_id)
    await _check_district(db, owner_id, changes.get("district_id"))
    for key, value in _clean(changes).items():
        setattr(site, key, value)
    try:
        _check_contact(site)
    except InvalidInput:
        await db.rollback()
        raise
    await db.commit()
    await db.refresh(site, ["cameras"])
    return site_out(site, area=area)


async def delete_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> None:
    site = await _own_site(db, owner_id, site_id)
    await db.delete(site)
    await db.commit()


def _place_camera(camera: Camera, site: Site, values: dict[str, Any]) -> None:
    """Latitude and longitude come as a pair; neither means the camera stands at its site."""
    if "latitude" not in values and "longitude" not in values:
        return
    latitude, longitude = values.pop("latitude", None), values.pop("longitude", None)
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise InvalidInput({missing: "Give both latitude and longitude, or neither to use the site's position"})
    camera.latitude = site.latitude if latitude is None else latitude
    camera.longitude = site.longitude if longitude is None else longitude


async def create_camera(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, data: CameraIn) -> CameraOut:
    site = await _own_site(db, owner_id, site_id)
    values = _clean(msgspec.structs.asdict(data))
    camera = Camera(site_id=site.id, latitude=site.latitude, longitude=site.longitude)
    _place_camera(camera, site, values)
    for key, value in values.items():
        setattr(camera, key, value)
    db.add(camera)
    await db.commit()
    return camera_out(camera)


async def get_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> CameraOut:
    return camera_out(await _own_camera(db, owner_id, camera_id))


async def update_camera(
    db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID, changes: dict[str, Any]
) -> CameraOut:
    camera = await _own_camera(db, owner_id, camera_id)
    site = await db.get_one(Site, camera.site_id)
    values = _clean(changes)
    _place_camera(camera, site, values)
    for key, value in values.items():
        setattr(camera, key, value)
    await db.commit()
    return camera_out(camera)


async def set_camera_paused(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID, paused: bool) -> CameraOut:
    """A paused camera stays registered but is not offered to police until resumed."""
    camera = await _own_camera(db, owner_id, camera_id)
    if paused and camera.paused_at is None:
        camera.paused_at = utcnow()
    elif not paused:
        camera.paused_at = None
    await db.commit()
    return camera_out(camera)


async def delete_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> uuid.UUID:
    """Returns the camera's site, where the owner goes next."""
    camera = await _own_camera(db, owner_id, camera_id)
    site_id = camera.site_id
    await db.delete(camera)
    await db.commit()
    return site_id


SEARCH_LIMIT = (1, 5000)
# Rows fetched past the limit, so that cameras at nearly the same distance are put in exact order in Python.
_TIE_MARGIN = 32
# Relative band around a squared chord inside which SQL's arithmetic and Python's haversine might disagree by
# rounding (both are good to ~1e-12): rows in the band are decided in Python, with the exact distance.
_CHORD_SLACK = 1e-9
# The nearest are looked for first in a circle expected to hold this many times the number wanted, if cameras
# were spread evenly; such a circle is worth a query only if it is this much smaller than the radius.
_SMALLER_HOLDS, _SMALLER_AT_MOST = 1.5, 0.8
_SEARCH_COLUMNS = (
    Camera.id, Camera.site_id, Camera.name, Camera.latitude, Camera.longitude, Camera.bearing_deg,
    Camera.field_of_view_deg, Camera.range_m, Camera.placement, Camera.recorder, Camera.retention_days,
)  # fmt: skip


def _chord_squared_to_incident() -> ColumnElement[float]:
    dx, dy, dz = (
        axis - bindparam(name, type_=Float)
        for axis, name in ((Camera.unit_x, "x"), (Camera.unit_y, "y"), (Camera.unit_z, "z"))
    )
    return dx * dx + dy * dy + dz * dz


def _cameras_in(cells: str, postgres: bool, *columns: ColumnElement[Any], measured: bool = True) -> Subquery:
    """The active cameras in the cell ranges of parameter `cells`, each range read as one range scan of an
    index holding every column read here (ix_cameras_geo_cell holds all the search reads). Measured: only
    those whose squared chord to the incident's unit vector (x, y, z) is within `reach`, with the chord.

    The ranges are one parameter however many there are, so each database plans one statement once: JSON
    pairs read by json_each on SQLite; two arrays read by unnest on PostgreSQL, with a LATERAL subquery per
    range (OFFSET 0 keeps PostgreSQL from flattening it into a join it would plan as a sequential scan)."""
    if postgres:
        table = (
            func.unnest(
                bindparam(f"{cells}_lows", type_=ARRAY(BigInteger)),
                bindparam(f"{cells}_highs", type_=ARRAY(BigInteger)),
            )
            .table_valued("low", "high")
            .render_derived(name=cells)
        )
        low, high = table.c.low, table.c.high
    else:
        table = func.json_each(bindparam(cells, type_=String)).table_valued("value").alias(cells)
        low, high = func.json_extract(table.c.value, "$[0]"), func.json_extract(table.c.value, "$[1]")
    chord = _chord_squared_to_incident()
    found = select(*columns).where(Camera.geo_cell.between(low, high), Camera.paused_at.is_(None))
    if measured:
        found = found.add_columns(chord.label("chord")).where(chord <= bindparam("reach", type_=Float))
    if not postgres:
        return found.subquery(f"{cells}_found")
    lateral = found.offset(0).lateral(f"{cells}_found")
    return select(lateral).select_from(table).join(lateral, true()).subquery(f"{cells}_in")


def _count_statement(postgres: bool) -> Select[tuple[int, int]]:
    """How many cameras are within reach, and how many of those lie in the rounding band (past `sure`) at its
    edge. Cells wholly inside the circle (`inside`) are counted from the narrow ix_cameras_cell_paused without
    measuring each camera; only the cameras of cells at the edge (`edge`) are measured: at 1 km, a tenth."""
    edge = _cameras_in("edge", postgres, Camera.id)
    inside = _cameras_in("inside", postgres, Camera.geo_cell, measured=False)
    in_band = case((edge.c.chord > bindparam("sure", type_=Float), 1), else_=0)
    at_edge = select(func.count().label("cameras"), func.coalesce(func.sum(in_band), 0).label("in_band"))
    at_edge = at_edge.select_from(edge).subquery()
    within = select(func.count().label("cameras")).select_from(inside).subquery()
    return select(at_edge.c.cameras + within.c.cameras, at_edge.c.in_band).join_from(at_edge, within, true())


def _nearest_statement(postgres: bool) -> Select:
    """The nearest `limit` cameras within reach in the ranges of `cells`, nearest first, with their owners:
    the columns _nearby takes, then the chord."""
    found = _cameras_in("cells", postgres, *_SEARCH_COLUMNS)
    nearest = select(found).order_by(found.c.chord, found.c.id).limit(bindparam("limit", type_=Integer)).subquery()
    row = nearest.c
    return (
        select(row.id, Site.owner_id, *(getattr(row, c.key) for c in _SEARCH_COLUMNS[2:]), row.chord)
        .join(Site, Site.id == row.site_id)
        .order_by(row.chord, row.id)
    )


# Each statement as a lambda statement without tracking: SQLAlchemy finds its compiled form by the lambda's code
# alone, where a plain statement is walked for its cache key on every call (0.35 ms of a search).
_COUNT = {
    False: lambda_stmt(lambda: _count_statement(False), enable_tracking=False),
    True: lambda_stmt(lambda: _count_statement(True), enable_tracking=False),
}
_NEAREST = {
    False: lambda_stmt(lambda: _nearest_statement(False), enable_tracking=False),
    True: lambda_stmt(lambda: _nearest_statement(True), enable_tracking=False),
}


def _nearby(row: Row, latitude: float, longitude: float, distance: float) -> NearbyCamera:
    """A row of _nearest_statement as the search returns it (unpacked by position: reading a row's fields by
    name costs ten times more, and a search builds hundreds)."""
    id_, owner_id, name, lat, lon, bearing, field_of_view, range_m, placement, recorder, days, _ = row
    to_incident = geo.initial_bearing_deg(lat, lon, latitude, longitude)
    return NearbyCamera(
        id=id_,
        owner_id=owner_id,
        name=name,
        latitude=lat,
        longitude=lon,
        distance_m=distance,
        bearing_deg=bearing,
        field_of_view_deg=field_of_view,
        range_m=range_m,
        placement=_PLACEMENTS[placement],
        recorder=_RECORDERS[recorder],
        retention_days=days,
        incident_in_view=geo.in_field_of_view(bearing, field_of_view, range_m, to_incident, distance),
    )


def _circle(latitude: float, longitude: float, radius_m: float, postgres: bool, *, split: bool) -> dict[str, Any]:
    """The parameters that give a circle to the statements above: its cell ranges (`cells`) or, split, the
    runs of them wholly inside it (`inside`) and the rest (`edge`)."""
    x, y, z = geo.unit_vector(latitude, longitude)
    chord = geo.chord_squared(radius_m)
    params: dict[str, Any] = {
        "x": x, "y": y, "z": z, "reach": chord * (1 + _CHORD_SLACK), "sure": chord * (1 - _CHORD_SLACK)
    }  # fmt: skip
    runs: dict[str, list[tuple[int, int]]] = {"inside": [], "edge": []} if split else {"cells": []}
    for cells in geo.covering_ranges(latitude, longitude, radius_m, inside=split):
        if not split:
            runs["cells"].append((cells.low, cells.high))
        elif cells.inside is None:
            runs["edge"].append((cells.low, cells.high))
        else:
            first, last = cells.inside
            runs["inside"].append((first, last))
            runs["edge"] += [run for run in ((cells.low, first - 1), (last + 1, cells.high)) if run[0] <= run[1]]
    for name, pairs in runs.items():
        if postgres:
            params |= {f"{name}_lows": [pair[0] for pair in pairs], f"{name}_highs": [pair[1] for pair in pairs]}
        else:
            params[name] = json.dumps(pairs)
    return params


async def find_cameras_near(
    db: AsyncSession, *, latitude: float, longitude: float, radius_m: float, limit: int = 200
) -> CameraSearch:
    """The cameras within radius_m of an incident point, nearest first (at most `limit`), and how many there
    are in all; paused cameras are left out.

    The grid cells covering the circle give the candidates (an index range scan per cell row); SQL keeps those
    whose chord to the incident is within the radius's. One query counts them. Where there are many more than
    the limit, the nearest are looked for first in a smaller circle expected to hold one and a half times the
    number wanted (then one twice as wide, while smaller than the radius), so that SQL sorts hundreds of rows
    rather than thousands. Python computes the exact great-circle distance of the rows it builds, and decides
    one by one any camera so close to the radius, or to the limit's edge, that rounding could matter.
    """
    if not SEARCH_RADIUS_M[0] <= radius_m <= SEARCH_RADIUS_M[1]:
        raise InvalidInput({"radius_m": "Radius must be between 25 m and 2 km"})
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput({"latitude": "Give a position with latitude -90..90 and longitude -180..180"})
    if not SEARCH_LIMIT[0] <= limit <= SEARCH_LIMIT[1]:
        raise InvalidInput({"limit": f"Limit must be between {SEARCH_LIMIT[0]} and {SEARCH_LIMIT[1]}"})
    connection = await db.connection()  # Core rows: no ORM loading
    postgres = connection.dialect.name == "postgresql"
    circle = _circle(latitude, longitude, radius_m, postgres, split=True)
    total, near_edge = (await connection.execute(_COUNT[postgres], circle)).one()

    async def nearest(radius: float, count: int) -> Sequence[Row]:
        params = _circle(latitude, longitude, radius, postgres, split=False)
        return (await connection.execute(_NEAREST[postgres], {**params, "limit": count})).all()

    wanted = limit + _TIE_MARGIN
    rows: Sequence[Row] = []
    if not near_edge:
        smaller = radius_m * math.sqrt(_SMALLER_HOLDS * wanted / total) if total else radius_m
        while len(rows) < wanted and smaller < radius_m * _SMALLER_AT_MOST:
            rows = await nearest(smaller, wanted)
            smaller *= 2
        if len(rows) < wanted:
            rows = await nearest(radius_m, wanted)
    if near_edge or (len(rows) == wanted and rows[-1].chord <= rows[limit - 1].chord * (1 + _CHORD_SLACK)):
        # Cameras on the radius's edge, or many at one distance at the limit's edge: decide them one by one.
        rows = await nearest(radius_m, total)
    found = []
    for row in rows:
        distance = geo.haversine_m(row[3], row[4], latitude, longitude)
        if distance <= radius_m:
            found.append((distance, row))
    found.sort(key=lambda pair: (pair[0], pair[1][0]))
    return CameraSearch(
        total=len(found) if len(rows) == total else total,
        cameras=[_nearby(row, latitude, longitude, distance) for distance, row in found[:limit]],
    )


# "2401 N Holton St" -> house number 2401, street "N Holton St" (a range like 2401-2405 or a letter like 12B too).
_HOUSE_NUMBER = re.compile(r"^\s*(\d{1,6})[A-Za-z]?(?:\s*[-–]\s*\d{1,6}[A-Za-z]?)?\s+(\S.*)$")
# What follows a street in an address line and narrows it to one home: "#3", "Apt 4", "Unit B", "Suite 200".
_UNIT = re.compile(r"\s*(?:#|\b(?:apt|apartment|unit|suite|ste|fl|floor)\b\.?).*$", re.IGNORECASE)


def block_of(address: str) -> str:
    """The block an address is on, as police name it ("2400 block of N Holton St"): enough to tell two cameras
    apart, never the house. Empty when no part of the address starts with a house number."""
    for part in address.split(","):
        match = _HOUSE_NUMBER.match(part)
        if match:
            street = _UNIT.sub("", match.group(2)).strip()
            if street:
                return f"{int(match.group(1)) // 100 * 100} block of {street}"
    return ""


class PolicePlace(NamedTuple):
    """What police may see of where a camera stands beyond its position: its owner (to group one request per
    owner) and its block. Never the owner's name, contact, or house number."""

    owner_id: uuid.UUID
    block: str


async def police_places(db: AsyncSession, camera_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PolicePlace]:
    """The owner and the block of each of these cameras (found by a search), by camera id."""
    if not camera_ids:
        return {}
    rows = await db.execute(
        select(Camera.id, Site.owner_id, Site.address)
        .join(Site, Site.id == Camera.site_id)
        .where(Camera.id.in_(list(camera_ids)))
    )
    return {camera_id: PolicePlace(owner_id, block_of(address)) for camera_id, owner_id, address in rows}
