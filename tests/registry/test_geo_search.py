"""Finding cameras near an incident: the same answer as a brute-force scan everywhere on Earth (antimeridian,
poles, equator), paused cameras left out, nearest first, and the field of view judged per camera."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Role
from backend.accounts.service import create_user
from backend.db import alembic_config, make_engine, utcnow
from backend.errors import InvalidInput
from backend.registry import geo, service
from backend.registry.models import Camera
from backend.registry.schemas import CameraIn, SiteIn
from backend.settings import Settings
from tests.databases import create_database, drop_database

# Places where a grid on latitude and longitude is most easily wrong, and two ordinary ones.
HOTSPOTS = [
    (0.0, 179.99),  # the antimeridian at the equator
    (-41.3, -179.99),
    (65.0, 180.0),
    (85.5, 30.0),
    (-87.0, -120.0),
    (89.99, 0.0),  # within 2 km of the north pole
    (-89.995, 77.0),
    (0.0, 0.0),  # the equator and the prime meridian
    (43.04, -87.91),
]


async def _owner_site(db: AsyncSession, email: str = "owner@example.com", lat: float = 43.04, lon: float = -87.91):
    owner = await create_user(db, email=email, password=None, display_name="Pat Owner", roles=[Role.OWNER])
    place = {"name": "Corner shop", "address": "1 Main St", "latitude": lat, "longitude": lon}
    site = await service.create_site(db, owner.id, SiteIn(**place, kind="business", contact_phone="(414) 555-0100"))
    return owner.id, site.id


def _camera_row(site_id: uuid.UUID, lat: float, lon: float, rng: random.Random, **values: object) -> dict:
    """A camera as the demo seeder writes it: a dict row, its geo cell left to the column default."""
    return {
        "id": uuid.uuid4(),
        "site_id": site_id,
        "name": f"Camera {rng.randrange(10**6)}",
        "latitude": lat,
        "longitude": lon,
        "bearing_deg": rng.randrange(0, 360),
        "field_of_view_deg": rng.choice([1, 60, 90, 180, 359, 360]),
        "range_m": rng.choice([1, 30, 300, 1000]),
        "placement": rng.choice(["indoor", "outdoor"]),
        "recorder": rng.choice(["nvr_dvr", "cloud", "doorbell", "sd_card", "other"]),
        "retention_days": rng.randrange(1, 366),
        "note": "",
        "paused_at": None,
        **values,
    }


def _scatter(rng: random.Random, lat: float, lon: float, max_m: float) -> tuple[float, float]:
    lat2, lon2 = geo.destination(lat, lon, rng.uniform(0, 360), max_m * rng.random() ** 0.5)
    return max(-90.0, min(90.0, lat2)), lon2


def _brute_force(cameras: list, latitude: float, longitude: float, radius_m: float) -> list[tuple]:
    """Every camera, exact distance, nearest first: what the search must equal."""
    found = []
    for camera in cameras:
        distance = geo.haversine_m(camera.latitude, camera.longitude, latitude, longitude)
        if distance <= radius_m:
            bearing = geo.initial_bearing_deg(camera.latitude, camera.longitude, latitude, longitude)
            in_view = distance <= camera.range_m and (
                camera.field_of_view_deg == 360
                or distance == 0
                or geo.angle_difference_deg(bearing, camera.bearing_deg)
                <= camera.field_of_view_deg / 2 + geo.FOV_EDGE_TOLERANCE_DEG
            )
            found.append((distance, camera.id, in_view))
    return sorted(found)


async def near(db: AsyncSession, **search: float) -> list:
    """The cameras a search returns (its default limit), nearest first."""
    return (await service.find_cameras_near(db, **search)).cameras  # type: ignore[arg-type]


def _covered(ranges: list[geo.CellRange], lat: float, lon: float) -> bool:
    cell = geo.cell_id(lat, lon)
    return any(r.low <= cell <= r.high and r.south <= lat <= r.north and r.west <= lon <= r.east for r in ranges)


def test_covering_cells_hold_every_point_within_the_radius() -> None:
    """The geometry alone, many times: a point inside the circle always lies in one of the covering ranges
    (its cell among the range's cells, its position in the range's box)."""
    rng = random.Random(7)
    for _ in range(3000):
        lat, lon = rng.choice(HOTSPOTS) if rng.random() < 0.6 else (rng.uniform(-90, 90), rng.uniform(-180, 180))
        lat, lon = _scatter(rng, lat, lon, 3000)
        radius = rng.uniform(25, 2000)
        ranges = geo.covering_ranges(lat, lon, radius)
        assert all(r.low <= r.high and r.south <= r.north and r.west <= r.east for r in ranges)
        for _ in range(10):
            point = geo.destination(lat, lon, rng.uniform(0, 360), radius * rng.choice([1.0, rng.random()]))
            point_lat, point_lon = max(-90.0, min(90.0, point[0])), point[1]
            if abs(point_lon) > 179.999 and rng.random() < 0.3:
                point_lon = 180.0 if point_lon > 0 else -180.0  # the same meridian, written the other way
            if geo.haversine_m(lat, lon, point_lat, point_lon) <= radius:
                assert _covered(ranges, point_lat, point_lon), (lat, lon, radius, point_lat, point_lon)


def test_cells_counted_as_inside_lie_wholly_within_the_radius() -> None:
    """A count takes the cameras of `inside` cells without measuring them: every point of such a cell (its
    corners, and points filed there) is within the radius; and ordinary circles do have inside cells."""
    rng = random.Random(11)
    with_inside = 0
    for _ in range(1500):
        lat, lon = rng.choice(HOTSPOTS) if rng.random() < 0.5 else (rng.uniform(-89, 89), rng.uniform(-180, 180))
        lat, lon = _scatter(rng, lat, lon, 3000)
        radius = rng.uniform(25, 2000)
        for cells in geo.covering_ranges(lat, lon, radius):
            if cells.inside is None:
                continue
            with_inside += 1
            first, last = cells.inside
            assert cells.low <= first <= last <= cells.high
            row = first // geo.ROW_STRIDE
            columns = geo.columns_in_row(row)
            south, north = -90.0 + row * geo.CELL_DEG, -90.0 + (row + 1) * geo.CELL_DEG
            for column in (first % geo.ROW_STRIDE, last % geo.ROW_STRIDE, rng.randint(first, last) % geo.ROW_STRIDE):
                west, east = -180.0 + column * 360.0 / columns, -180.0 + (column + 1) * 360.0 / columns
                points = [(south, west), (south, east), (north, west), (north, east)]
                points.append((rng.uniform(south, north), rng.uniform(west, east)))
                for point in points:
                    assert geo.haversine_m(lat, lon, *point) <= radius, (lat, lon, radius, point)
                point = (rng.uniform(south, north), rng.uniform(west, east))
                if geo.cell_id(*point) == row * geo.ROW_STRIDE + column:
                    assert geo.haversine_m(lat, lon, *point) <= radius
    assert with_inside > 1000


def test_a_circle_around_a_pole_covers_every_longitude() -> None:
    for latitude in (89.99, -89.99, 90.0, -90.0):
        ranges = geo.covering_ranges(latitude, 10.0, 2000)
        for longitude in (-180.0, -90.0, 0.0, 45.0, 179.999, 180.0):
            near_pole = 89.999 if latitude > 0 else -89.999
            assert _covered(ranges, near_pole, longitude), (latitude, longitude)


async def test_search_equals_a_brute_force_scan_at_the_antimeridian_the_poles_and_the_equator(
    db: AsyncSession,
) -> None:
    rng = random.Random(2024)
    _, site_id = await _owner_site(db)
    rows = []
    for lat, lon in HOTSPOTS:
        rows += [_camera_row(site_id, *_scatter(rng, lat, lon, 2500), rng) for _ in range(150)]
        rows += [_camera_row(site_id, *_scatter(rng, lat, lon, 100), rng) for _ in range(30)]
    rows += [_camera_row(site_id, 90.0, lon, rng) for lon in (-180.0, 0.0, 123.0)]
    rows += [_camera_row(site_id, -90.0, 0.0, rng), _camera_row(site_id, 0.0, 180.0, rng)]
    rows += [_camera_row(site_id, 0.0, -180.0, rng), _camera_row(site_id, 0.0005, -179.9999, rng)]
    await db.execute(insert(Camera), rows)
    await db.commit()
    cameras = (await db.scalars(select(Camera))).all()
    assert all(camera.geo_cell == geo.cell_id(camera.latitude, camera.longitude) for camera in cameras)

    queries = [(*_scatter(rng, *rng.choice(HOTSPOTS), 2500), rng.uniform(25, 2000)) for _ in range(120)]
    queries += [(90.0, 0.0, 2000), (-90.0, 0.0, 1500), (0.0, 180.0, 500), (0.0, -180.0, 25), (0.0, 179.9999, 100)]
    queries += [(rng.uniform(-90, 90), rng.uniform(-180, 180), 2000) for _ in range(10)]
    for latitude, longitude, radius in queries:
        expected = _brute_force(cameras, latitude, longitude, radius)
        for limit in (5000, 7):
            search = await service.find_cameras_near(
                db, latitude=latitude, longitude=longitude, radius_m=radius, limit=limit
            )
            found = [(c.distance_m, c.id, c.incident_in_view) for c in search.cameras]
            assert search.total == len(expected) and found == expected[:limit], (latitude, longitude, radius, limit)
    assert sum(len(_brute_force(cameras, *query)) > 0 for query in queries) > 90  # most queries find something


async def test_each_result_says_where_the_camera_is_and_what_it_shows_but_not_who_owns_it(db: AsyncSession) -> None:
    owner_id, site_id = await _owner_site(db)
    camera = await service.create_camera(
        db,
        owner_id,
        site_id,
        CameraIn(name="Back door", bearing_deg=270, placement="outdoor", recorder="nvr_dvr", retention_days=14),
    )
    incident = geo.destination(camera.latitude, camera.longitude, 270, 20)
    [found] = await near(db, latitude=incident[0], longitude=incident[1], radius_m=100)
    assert (found.id, found.owner_id, found.name) == (camera.id, owner_id, "Back door")
    assert (found.latitude, found.longitude) == (43.04, -87.91)
    assert found.distance_m == pytest.approx(20, abs=1e-6)
    assert (found.bearing_deg, found.field_of_view_deg, found.range_m) == (270, 90, 30)
    assert (found.placement, found.recorder, found.retention_days) == ("outdoor", "nvr_dvr", 14)
    assert found.incident_in_view
    fields = set(type(found).__struct_fields__)
    assert not fields & {"contact_phone", "contact_email", "email", "display_name", "address", "note"}


async def test_paused_cameras_are_left_out_until_resumed(db: AsyncSession) -> None:
    owner_id, site_id = await _owner_site(db)
    camera = CameraIn(name="Porch", bearing_deg=0, placement="outdoor", recorder="cloud", retention_days=7)
    kept = await service.create_camera(db, owner_id, site_id, camera)
    paused = await service.create_camera(db, owner_id, site_id, camera)
    await service.set_camera_paused(db, owner_id, paused.id, True)
    search = {"latitude": 43.0401, "longitude": -87.91, "radius_m": 250}
    assert [c.id for c in await near(db, **search)] == [kept.id]
    await service.set_camera_paused(db, owner_id, paused.id, False)
    assert {c.id for c in await near(db, **search)} == {kept.id, paused.id}


async def test_results_come_nearest_first_and_stop_at_the_radius(db: AsyncSession) -> None:
    rng = random.Random(5)
    _, site_id = await _owner_site(db)
    incident = (43.05, -87.92)
    distances = [700, 10, 249, 0, 248.5, 1999, 2001, 40]
    rows = [_camera_row(site_id, *geo.destination(*incident, rng.uniform(0, 360), d), rng) for d in distances]
    await db.execute(insert(Camera), rows)
    await db.commit()
    found = await near(db, latitude=incident[0], longitude=incident[1], radius_m=2000)
    assert [round(c.distance_m, 1) for c in found] == [0, 10, 40, 248.5, 249, 700, 1999]
    found = await near(db, latitude=incident[0], longitude=incident[1], radius_m=250)
    assert [round(c.distance_m, 1) for c in found] == [0, 10, 40, 248.5, 249]


@pytest.mark.parametrize(
    ("bearing_to_incident", "distance_m", "field_of_view_deg", "in_view"),
    [
        (90, 30, 90, True),  # straight ahead
        (270, 30, 90, False),  # behind
        (135, 30, 90, True),  # exactly on the right edge of the view
        (45, 30, 90, True),  # exactly on the left edge
        (136, 30, 90, False),  # a degree past the edge
        (44, 30, 90, False),
        (270, 30, 360, True),  # a 360° camera sees behind it
        (90, 60, 90, False),  # straight ahead but beyond the camera's range
        (90, 49.9, 90, True),  # just inside the range
        (91, 30, 1, False),  # a 1° view misses a point a degree off
    ],
)
async def test_incident_in_view(
    db: AsyncSession, bearing_to_incident: float, distance_m: float, field_of_view_deg: int, in_view: bool
) -> None:
    owner_id, site_id = await _owner_site(db)
    camera = await service.create_camera(
        db,
        owner_id,
        site_id,
        CameraIn(
            name="Storefront",
            bearing_deg=90,
            field_of_view_deg=field_of_view_deg,
            range_m=50,
            placement="outdoor",
            recorder="cloud",
            retention_days=7,
        ),
    )
    incident = geo.destination(camera.latitude, camera.longitude, bearing_to_incident, distance_m)
    [found] = await near(db, latitude=incident[0], longitude=incident[1], radius_m=100)
    assert found.incident_in_view is in_view
    assert found.distance_m == pytest.approx(distance_m, abs=1e-6)


async def test_field_of_view_across_the_antimeridian(db: AsyncSession) -> None:
    """A camera just west of 180° facing east sees a point just east of it, at longitude -179.99..."""
    owner_id, site_id = await _owner_site(db, lat=-16.5, lon=179.9999)
    camera = CameraIn(
        name="Jetty", bearing_deg=90, range_m=100, placement="outdoor", recorder="nvr_dvr", retention_days=30
    )
    created = await service.create_camera(db, owner_id, site_id, camera)
    incident = geo.destination(-16.5, 179.9999, 90, 40)
    assert incident[1] < -179.999
    [found] = await near(db, latitude=incident[0], longitude=incident[1], radius_m=50)
    assert found.id == created.id and found.incident_in_view
    behind = geo.destination(-16.5, 179.9999, 270, 40)
    [found] = await near(db, latitude=behind[0], longitude=behind[1], radius_m=50)
    assert not found.incident_in_view


@pytest.mark.parametrize("radius_m", [0, 24.9, 2000.5, -100, 10_000, float("nan")])
async def test_radius_outside_25_m_to_2_km_is_refused(db: AsyncSession, radius_m: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.find_cameras_near(db, latitude=43.0, longitude=-87.9, radius_m=radius_m)
    assert refused.value.errors == {"radius_m": "Radius must be between 25 m and 2 km"}


async def test_radius_limits_themselves_are_allowed(db: AsyncSession) -> None:
    for radius_m in (25, 2000):
        assert await near(db, latitude=43.0, longitude=-87.9, radius_m=radius_m) == []


async def test_moving_a_camera_moves_it_in_the_search(db: AsyncSession) -> None:
    owner_id, site_id = await _owner_site(db)
    camera = await service.create_camera(
        db,
        owner_id,
        site_id,
        CameraIn(name="Gate", bearing_deg=0, placement="outdoor", recorder="cloud", retention_days=7),
    )
    old = {"latitude": 43.04, "longitude": -87.91, "radius_m": 100}
    new = {"latitude": 43.06, "longitude": -87.95, "radius_m": 100}
    assert [c.id for c in await near(db, **old)] == [camera.id]
    await service.update_camera(db, owner_id, camera.id, {"latitude": 43.06, "longitude": -87.95})
    assert await near(db, **old) == []
    assert [c.id for c in await near(db, **new)] == [camera.id]
    await service.update_camera(db, owner_id, camera.id, {"name": "Gate 2"})  # a change that is not a move
    assert [c.name for c in await near(db, **new)] == ["Gate 2"]
    stored = await db.scalar(select(Camera.geo_cell).where(Camera.id == camera.id))
    assert stored == geo.cell_id(43.06, -87.95)


def test_migration_files_existing_cameras_under_their_cells(tmp_path: Path) -> None:
    """Cameras registered before the geo index get their cell (revision 0003) and unit vector (0007)."""
    url = create_database(tmp_path, "geo_migration")
    positions = [(43.04, -87.91), (89.99, 0.0), (0.0, 180.0), (-90.0, -180.0)]
    try:
        config = alembic_config(url)
        command.upgrade(config, "0002")

        async def register_cameras(connection) -> None:
            rng, now = random.Random(1), utcnow()
            user = dict(id=uuid.uuid4(), email="o@example.com", display_name="O", time_zone="UTC", created_at=now)
            await connection.execute(insert(_table("users", user)), user)
            site = dict(id=uuid.uuid4(), owner_id=user["id"], name="S", address="A", latitude=0, longitude=0)
            site |= dict(kind="home", contact_phone="1", contact_email="", contact_hours="", investigator_note="")
            site |= dict(created_at=now, updated_at=now)
            await connection.execute(insert(_table("sites", site)), site)
            for lat, lon in positions:
                camera = {**_camera_row(site["id"], lat, lon, rng), "created_at": now, "updated_at": now}
                await connection.execute(insert(_table("cameras", camera)), camera)

        _run(url, register_cameras)
        command.upgrade(config, "head")

        async def cells(connection):
            columns = (Camera.latitude, Camera.longitude, Camera.geo_cell, Camera.unit_x, Camera.unit_y, Camera.unit_z)
            return (await connection.execute(select(*columns))).all()

        expected = [(lat, lon, geo.cell_id(lat, lon), *geo.unit_vector(lat, lon)) for lat, lon in positions]
        assert sorted(_run(url, cells)) == sorted(expected)
    finally:
        drop_database(url)


def _table(name: str, row: dict) -> sa.TableClause:
    """The table as it was before revision 0003, as far as this row needs it (not today's model)."""
    types = {"id": sa.Uuid(), "owner_id": sa.Uuid(), "site_id": sa.Uuid(), "paused_at": DateTimeUTC(timezone=True)}
    types |= {"created_at": DateTimeUTC(timezone=True), "updated_at": DateTimeUTC(timezone=True)}
    return sa.table(name, *(sa.column(key, types.get(key)) for key in row))


def _run(url: str, work):
    async def run():
        engine = make_engine(Settings(database_url=url, secret_key="x", var_dir=Path("/tmp")))
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def test_many_cameras_at_one_distance_across_the_limit_come_in_id_order(db: AsyncSession) -> None:
    """A tower block: 60 cameras at one position and 60 more at another, so the limit falls among equal distances."""
    rng = random.Random(7)
    _, site_id = await _owner_site(db)
    near_spot, far_spot = geo.destination(43.04, -87.91, 90, 40), geo.destination(43.04, -87.91, 200, 80)
    rows = [_camera_row(site_id, *near_spot, rng) for _ in range(60)]
    rows += [_camera_row(site_id, *far_spot, rng) for _ in range(60)]
    await db.execute(insert(Camera), rows)
    await db.commit()
    cameras = (await db.scalars(select(Camera))).all()
    expected = _brute_force(cameras, 43.04, -87.91, 100)
    for limit in (1, 59, 60, 61, 90, 120, 200):
        search = await service.find_cameras_near(db, latitude=43.04, longitude=-87.91, radius_m=100, limit=limit)
        assert search.total == 120
        assert [(c.distance_m, c.id) for c in search.cameras] == [(d, i) for d, i, _ in expected[:limit]], limit


@pytest.mark.parametrize("limit", [0, 5001])
async def test_a_limit_outside_1_to_5000_is_refused(db: AsyncSession, limit: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.find_cameras_near(db, latitude=43.0, longitude=-87.9, radius_m=100, limit=limit)
    assert refused.value.errors == {"limit": "Limit must be between 1 and 5000"}
