"""Geometry on the sphere for the camera search: distances, bearings, and the grid cells a search reads.

No database code here. A camera's position is filed under one integer cell id (an indexed column), so
both SQLite and PostgreSQL find the candidates near a point with a few B-tree range scans.

The grid: rows are bands of CELL_DEG degrees of latitude (about 54 m); each row is cut into columns
whose count shrinks with cos(latitude), so cells stay roughly square from the equator to the poles
(the row at a pole has 3 columns). A cell's id is `row * ROW_STRIDE + column`, so a run of columns in
one row is one range of ids, and full rows next to each other are one range too (the ids between a
row's last column and the next row's first are never used).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); the same sphere for distances and for the cells
CELLS_PER_DEGREE = 2048  # a power of two: latitude * 2048 is exact, so row edges have no rounding
CELL_DEG = 1 / CELLS_PER_DEGREE
ROWS = 180 * CELLS_PER_DEGREE
ROW_STRIDE = 360 * CELLS_PER_DEGREE  # more than any row's column count
# Search bounds are widened by this much (radians) so rounding can only add candidates, never lose one.
_SLACK = 1e-9
_BOX_MARGIN_DEG = 1e-7  # 1 cm: more than any rounding in a position's row, far less than a cell
# A point on the edge of a camera's view counts as in view despite rounding in the bearing (1e-6° is 2 cm at 1 km).
FOV_EDGE_TOLERANCE_DEG = 1e-6


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def unit_vector(latitude: float, longitude: float) -> tuple[float, float, float]:
    """The position as a point on the unit sphere. The straight-line (chord) distance between two such points
    grows with the great-circle distance, everywhere on Earth, so SQL can order and filter by it cheaply."""
    phi, lam = math.radians(latitude), math.radians(longitude)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def chord_squared(distance_m: float) -> float:
    """The squared chord between unit vectors `distance_m` apart along the great circle."""
    return (2 * math.sin(min(math.pi, distance_m / EARTH_RADIUS_M) / 2)) ** 2


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Direction to set off from point 1 to reach point 2, degrees clockwise from north in [0, 360)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlambda = math.radians(lon2 - lon1)
    y = math.sin(dlambda) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlambda)
    return math.degrees(math.atan2(y, x)) % 360.0


def angle_difference_deg(a: float, b: float) -> float:
    """The smaller angle between two directions, in [0, 180]."""
    difference = abs(a - b) % 360.0
    return 360.0 - difference if difference > 180.0 else difference


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point reached by going distance_m from (lat, lon) along the given initial bearing."""
    phi1, lambda1, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance_m / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    y = math.sin(theta) * math.sin(delta) * math.cos(phi1)
    x = math.cos(delta) - math.sin(phi1) * sin_phi2
    lon2 = (math.degrees(lambda1 + math.atan2(y, x)) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


def in_field_of_view(
    camera_bearing_deg: float, field_of_view_deg: float, range_m: float, bearing_to_point_deg: float, distance_m: float
) -> bool:
    """Whether a point at this bearing and distance from a camera is in what the camera sees (edges included)."""
    if distance_m > range_m:
        return False
    if field_of_view_deg >= 360 or distance_m == 0:
        return True
    return (
        angle_difference_deg(bearing_to_point_deg, camera_bearing_deg) <= field_of_view_deg / 2 + FOV_EDGE_TOLERANCE_DEG
    )


_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def compass_point(bearing_deg: float) -> str:
    """The compass point a bearing is nearest to ("N", "NE", ...)."""
    return _COMPASS[round(bearing_deg / 45) % 8]


def point_in_polygon(latitude: float, longitude: float, polygon: dict[str, Any]) -> bool:
    """Whether a position lies inside a GeoJSON Polygon (holes are outside): ray casting, even-odd over every
    ring. Fine at a district's size, where the plane and the sphere agree."""
    inside = False
    for ring in polygon["coordinates"]:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
            if (y1 > latitude) != (y2 > latitude):
                crossing = x1 + (latitude - y1) * (x2 - x1) / (y2 - y1)
                if longitude < crossing:
                    inside = not inside
    return inside


def row_of(latitude: float) -> int:
    return min(ROWS - 1, math.floor((latitude + 90.0) * CELLS_PER_DEGREE))


@lru_cache(maxsize=4096)
def columns_in_row(row: int) -> int:
    middle = math.radians(-90.0 + (row + 0.5) * CELL_DEG)
    return max(1, math.floor(ROW_STRIDE * math.cos(middle)))


def _column_of(longitude: float, columns: int) -> int:
    return min(columns - 1, max(0, math.floor((longitude + 180.0) / 360.0 * columns)))


def cell_id(latitude: float, longitude: float) -> int:
    """The cell a position is filed under (latitude -90..90, longitude -180..180)."""
    row = row_of(latitude)
    return row * ROW_STRIDE + _column_of(longitude, columns_in_row(row))


def _max_longitude_offset(phi0: float, delta: float, south: float, north: float) -> float:
    """The largest longitude offset (radians) of a point of the cap (centre latitude phi0, angular radius
    delta) whose latitude is in [south, north]. Along the cap the offset grows up to the latitude where
    a meridian touches the cap, asin(sin phi0 / cos delta), then shrinks: so the point of [south, north]
    nearest that latitude gives the largest offset."""
    touching = math.asin(max(-1.0, min(1.0, math.sin(phi0) / math.cos(delta))))
    phi = min(max(touching, south), north)
    denominator = math.cos(phi0) * math.cos(phi)
    if denominator <= 0:
        return math.pi
    cos_offset = (math.cos(delta) - math.sin(phi0) * math.sin(phi)) / denominator
    return math.acos(max(-1.0, min(1.0, cos_offset)))


class CellRange(NamedTuple):
    """Cells low..high of the grid (inclusive), and the box (degrees) within them that the circle can reach:
    a search reads the cells and skips, still in the index, the positions outside the box. `inside` is the run
    of these cells lying wholly within the circle, if any: every position filed there is within the radius,
    so a count takes them without measuring each."""

    low: int
    high: int
    south: float
    north: float
    west: float
    east: float
    inside: tuple[int, int] | None = None


def _half_width(phi0: float, delta: float, phi: float) -> float | None:
    """Half the longitude span (radians) of the cap (centre latitude phi0, angular radius delta) along the
    parallel at latitude phi; None where the parallel misses the cap or lies wholly in it. (Haversine form:
    exact for small caps, where the cosine form loses half its digits.)"""
    denominator = math.cos(phi0) * math.cos(phi)
    numerator = math.sin(delta / 2) ** 2 - math.sin((phi - phi0) / 2) ** 2
    if denominator <= 0 or numerator <= 0 or numerator >= denominator:
        return None
    return 2 * math.asin(math.sqrt(numerator / denominator))


def _inside_columns(phi0: float, lambda0: float, delta: float, row: int, columns: int) -> tuple[int, int] | None:
    """The columns of a row whose cells lie wholly within the cap. A cell is within it when its four corners
    are: the cap meets a parallel in one arc, and a meridian (a great circle) in one arc as well. The cap is
    shrunk by a millionth and the span by a centimetre, far more than any rounding in filing a position."""
    shrunk = delta * (1 - 1e-6)
    edges = (math.radians(-90.0 + row * CELL_DEG), math.radians(-90.0 + (row + 1) * CELL_DEG))
    widths = [_half_width(phi0, shrunk, edge) for edge in edges]
    if None in widths:
        return None
    half = math.degrees(min(widths)) - _BOX_MARGIN_DEG  # type: ignore[type-var]
    west, east = math.degrees(lambda0) - half, math.degrees(lambda0) + half
    if west < -180.0 or east > 180.0:
        return None  # across the antimeridian: left to the edge scan
    first = math.ceil((west + 180.0) / 360.0 * columns)
    last = math.floor((east + 180.0) / 360.0 * columns) - 1  # the last cell whose east edge is within
    return (first, last) if first <= last else None


def covering_ranges(latitude: float, longitude: float, radius_m: float, *, inside: bool = True) -> list[CellRange]:
    """Ranges of cell ids, each with a box, that together hold every position within radius_m of the point,
    and (unless told not to) the run of each range's cells that lies wholly inside the circle.

    Correct across the antimeridian (a row's longitude span wraps into two ranges) and at the poles
    (a circle that reaches a pole takes every longitude of the rows it touches)."""
    exact = radius_m / EARTH_RADIUS_M
    delta = exact * (1 + _SLACK) + _SLACK
    phi0, lambda0 = math.radians(latitude), math.radians(longitude)
    south, north = phi0 - delta, phi0 + delta
    holds_a_pole = north >= math.pi / 2 or south <= -math.pi / 2
    south, north = max(south, -math.pi / 2), min(north, math.pi / 2)
    first_row, last_row = row_of(math.degrees(south)), row_of(math.degrees(north))
    ranges: list[CellRange] = []
    for row in range(first_row, last_row + 1):
        columns = columns_in_row(row)
        base = row * ROW_STRIDE
        band_south = max(south, math.radians(-90.0 + row * CELL_DEG))
        band_north = min(north, math.radians(-90.0 + (row + 1) * CELL_DEG))
        # A position's row comes from rounded arithmetic: the box takes a centimetre more on either side.
        box_south, box_north = math.degrees(band_south) - _BOX_MARGIN_DEG, math.degrees(band_north) + _BOX_MARGIN_DEG
        offset = math.pi if holds_a_pole else _max_longitude_offset(phi0, delta, band_south, band_north) + _SLACK
        if offset >= math.pi:
            ranges.append(CellRange(base, base + columns - 1, box_south, box_north, -180.0, 180.0))
            continue
        west, east = math.degrees(lambda0 - offset), math.degrees(lambda0 + offset)
        spans = [(west, east)]
        if west < -180.0:
            spans = [(west + 360.0, 180.0), (-180.0, east)]
        elif east > 180.0:
            spans = [(west, 180.0), (-180.0, east - 360.0)]
        columns_inside = _inside_columns(phi0, lambda0, exact, row, columns) if inside and len(spans) == 1 else None
        for span_west, span_east in spans:
            low, high = base + _column_of(span_west, columns), base + _column_of(span_east, columns)
            cells = (base + columns_inside[0], base + columns_inside[1]) if columns_inside else None
            ranges.append(CellRange(low, high, box_south, box_north, span_west, span_east, cells))
    return _merge(sorted(ranges))


def _merge(ranges: list[CellRange]) -> list[CellRange]:
    """Ranges that touch become one, with a box around both (fewer index scans; never fewer positions)."""
    merged: list[CellRange] = []
    for current in ranges:
        if merged and current.low <= _next_used_id(merged[-1].high):
            last = merged[-1]
            merged[-1] = CellRange(
                last.low,
                max(last.high, current.high),
                min(last.south, current.south),
                max(last.north, current.north),
                min(last.west, current.west),
                max(last.east, current.east),
            )  # no `inside`: the merged ranges are whole rows near a pole or the antimeridian, left to the scan
        else:
            merged.append(current)
    return merged


def _next_used_id(cell: int) -> int:
    row, column = divmod(cell, ROW_STRIDE)
    return cell + 1 if column + 1 < columns_in_row(row) else (row + 1) * ROW_STRIDE
