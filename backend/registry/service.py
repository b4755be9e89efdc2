"""The owner's registry: sites and cameras, always loaded scoped to their owner."""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.db import utcnow
from backend.errors import InvalidInput, NotFound
from backend.registry import geo
from backend.registry.models import Camera, Placement, Recorder, Site, SiteKind
from backend.registry.schemas import CameraIn, CameraOut, CameraSearch, NearbyCamera, SiteIn, SiteOut

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_FIELDS = ("name", "address", "contact_phone", "contact_email", "contact_hours", "investigator_note", "note")
SEARCH_RADIUS_M = (25, 2000)
_PLACEMENTS = {placement.value: placement for placement in Placement}
_RECORDERS = {recorder.value: recorder for recorder in Recorder}


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


def site_out(site: Site) -> SiteOut:
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
        cameras=[camera_out(c) for c in site.cameras],
    )


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if k in _TEXT_FIELDS and isinstance(v, str) else v for k, v in values.items()}


def _check_contact(site: Site) -> None:
    if not site.contact_phone and not site.contact_email:
        raise InvalidInput({"contact_phone": "Give a phone number or an email address so police can reach you"})
    if site.contact_email and not _EMAIL.match(site.contact_email):
        raise InvalidInput({"contact_email": "Contact email is not an email address (name@example.com)"})


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


async def list_sites(db: AsyncSession, owner_id: uuid.UUID) -> list[SiteOut]:
    sites = await db.scalars(
        select(Site).where(Site.owner_id == owner_id).options(selectinload(Site.cameras)).order_by(Site.name, Site.id)
    )
    return [site_out(s) for s in sites]


async def get_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> SiteOut:
    return site_out(await _own_site(db, owner_id, site_id))


async def create_site(db: AsyncSession, owner_id: uuid.UUID, data: SiteIn) -> SiteOut:
    site = Site(owner_id=owner_id, cameras=[], **_clean(msgspec.structs.asdict(data)))
    _check_contact(site)
    db.add(site)
    await db.commit()
    return site_out(site)


async def update_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, changes: dict[str, Any]) -> SiteOut:
    site = await _own_site(db, owner_id, site_id)
    for key, value in _clean(changes).items():
        setattr(site, key, value)
    try:
        _check_contact(site)
    except InvalidInput:
        await db.rollback()
        raise
    await db.commit()
    await db.refresh(site, ["cameras"])
    return site_out(site)


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
_SEARCH_COLUMNS = (
    Camera.id, Camera.site_id, Camera.name, Camera.latitude, Camera.longitude, Camera.bearing_deg,
    Camera.field_of_view_deg, Camera.range_m, Camera.placement, Camera.recorder, Camera.retention_days,
)  # fmt: skip


def _chord_squared_to_incident() -> ColumnElement[float]:
    return sum(
        (
            (axis - bindparam(name, type_=Float)) * (axis - bindparam(name, type_=Float))
            for axis, name in ((Camera.unit_x, "x"), (Camera.unit_y, "y"), (Camera.unit_z, "z"))
        ),
        start=literal(0.0, Float),
    )


@lru_cache(maxsize=256)
def _nearest_in_cell_ranges(count: int) -> Select:
    """The nearest `limit` active cameras in `count` cell ranges (parameters low_0, high_0, ...) within the chord
    `reach` of the incident's unit vector (x, y, z), nearest first, each with how many cameras are within reach
    (`within`) and how many of those lie in the rounding band at its edge (`near_edge`), and with its owner.

    One branch per range, so both databases plan each as one index range scan (the index holds every column
    read here); the chord is computed from the index too. Built once per count, then found in SQLAlchemy's
    compiled cache."""
    chord = _chord_squared_to_incident()
    in_cells = union_all(
        *(
            select(*_SEARCH_COLUMNS, chord.label("chord")).where(
                Camera.geo_cell.between(
                    bindparam(f"low_{n}", type_=BigInteger), bindparam(f"high_{n}", type_=BigInteger)
                ),
                Camera.paused_at.is_(None),
                chord <= bindparam("reach", type_=Float),
            )
            for n in range(count)
        )
    ).subquery("in_cells")
    found = in_cells.c
    nearest = (
        select(
            found,
            func.count().over().label("within"),
            func.sum(case((found.chord > bindparam("sure", type_=Float), 1), else_=0)).over().label("near_edge"),
        )
        .order_by(found.chord, found.id)
        .limit(bindparam("limit", type_=Integer))
        .subquery("nearest")
    )
    row = nearest.c
    return (
        select(row.id, row.site_id, Site.owner_id, *(getattr(row, c.key) for c in _SEARCH_COLUMNS[2:]), row.chord)
        .add_columns(row.within, row.near_edge)
        .join(Site, Site.id == row.site_id)
        .order_by(row.chord, row.id)
    )


def _nearby(row: Row, latitude: float, longitude: float, distance: float) -> NearbyCamera:
    to_incident = geo.initial_bearing_deg(row.latitude, row.longitude, latitude, longitude)
    return NearbyCamera(
        id=row.id,
        site_id=row.site_id,
        owner_id=row.owner_id,
        name=row.name,
        latitude=row.latitude,
        longitude=row.longitude,
        distance_m=distance,
        bearing_deg=row.bearing_deg,
        field_of_view_deg=row.field_of_view_deg,
        range_m=row.range_m,
        placement=_PLACEMENTS[row.placement],
        recorder=_RECORDERS[row.recorder],
        retention_days=row.retention_days,
        incident_in_view=geo.in_field_of_view(
            row.bearing_deg, row.field_of_view_deg, row.range_m, to_incident, distance
        ),
    )


async def find_cameras_near(
    db: AsyncSession, *, latitude: float, longitude: float, radius_m: float, limit: int = 200
) -> CameraSearch:
    """The cameras within radius_m of an incident point, nearest first (at most `limit`), and how many there
    are in all; paused cameras are left out.

    The grid cells covering the circle give the candidates (an index range scan per cell row); SQL keeps those
    whose chord to the incident is within the radius's, counts them and returns the nearest. Python then
    computes the exact great-circle distance of the few it builds, and decides exactly any camera so close to
    the radius, or to the limit's edge, that rounding could matter."""
    if not SEARCH_RADIUS_M[0] <= radius_m <= SEARCH_RADIUS_M[1]:
        raise InvalidInput({"radius_m": "Radius must be between 25 m and 2 km"})
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput({"latitude": "Give a position with latitude -90..90 and longitude -180..180"})
    if not SEARCH_LIMIT[0] <= limit <= SEARCH_LIMIT[1]:
        raise InvalidInput({"limit": f"Limit must be between {SEARCH_LIMIT[0]} and {SEARCH_LIMIT[1]}"})
    ranges = geo.covering_ranges(latitude, longitude, radius_m)
    x, y, z = geo.unit_vector(latitude, longitude)
    chord = geo.chord_squared(radius_m)
    params = {f"{field}_{n}": getattr(cells, field) for n, cells in enumerate(ranges) for field in ("low", "high")}
    params |= {"x": x, "y": y, "z": z, "reach": chord * (1 + _CHORD_SLACK), "sure": chord * (1 - _CHORD_SLACK)}
    statement = _nearest_in_cell_ranges(len(ranges))
    connection = await db.connection()  # Core rows: no ORM loading
    rows = (await connection.execute(statement, {**params, "limit": limit + _TIE_MARGIN})).all()
    total = rows[0].within if rows else 0
    exact = len(rows) == total or rows[-1].chord > rows[min(limit, len(rows)) - 1].chord * (1 + _CHORD_SLACK)
    if (rows and rows[0].near_edge) or not exact:
        # Cameras on the radius's edge to decide, or many at one distance at the limit's edge: take them all.
        rows = (await connection.execute(statement, {**params, "limit": total})).all()
    found = []
    for row in rows:
        distance = geo.haversine_m(row.latitude, row.longitude, latitude, longitude)
        if distance <= radius_m:
            found.append((distance, row))
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    return CameraSearch(
        total=len(found) if len(rows) == total else total,
        cameras=[_nearby(row, latitude, longitude, distance) for distance, row in found[:limit]],
    )
