"""Spherical geometry and the grid that indexes points for the nearby search.

A point is stored with two derived values:

* ``cell``: the grid cell it falls in, an integer ``row * CELL_ROW_STRIDE + col`` where
  ``row = floor((lat + 90) / CELL_DEG)`` and ``col = floor((lon + 180) / CELL_DEG)``.
  Cells of one grid row are consecutive integers, so the cells a circle touches in one row
  are a single B-tree range (``cell BETWEEN a AND b``).
* ``(ux, uy, uz)``: the point as a unit vector. The straight-line (chord) distance between two
  unit vectors grows monotonically with the great-circle distance, so comparing a sum of
  squared differences ranks by exact great-circle distance with nothing but arithmetic, which
  SQLite and PostgreSQL evaluate alike.

For a circle, ``disc_cells`` gives the cells that may hold a point of the circle (``cover``) and
the cells that lie wholly inside it (``inner``), as ranges of cell ids, at most two per row. A
lat/lon cell is wholly inside when its four corners are: along a parallel and along a meridian
the distance from the centre has a single minimum, so over a cell it is largest at a corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
CELL_DEG = 0.001  # about 111 m north-south; 102 m east-west at 23.5 N (see README "Benchmarks")
CELL_ROW_STRIDE = 1_000_000  # > 360 / CELL_DEG + 1, so rows never overlap
MAX_ROW = math.floor(180.0 / CELL_DEG)  # the row of latitude 90
MAX_COL = math.floor(360.0 / CELL_DEG)  # the column of longitude 180 (the same meridian as column 0)
CELL_M = math.radians(CELL_DEG) * EARTH_RADIUS_M  # a cell's north-south size in metres
# Cells count as wholly inside a circle only if they are inside one this much smaller: points
# a float rounding away from their cell's edge must still lie within the circle.
INNER_MARGIN_M = 0.01
_COVER_SLACK = 1e-9  # relative widening of covering ranges against rounding at the circle's edge


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    """The point as a unit vector (x, y, z) on the sphere."""
    phi, lam = math.radians(lat), math.radians(lon)
    cos_phi = math.cos(phi)
    return (cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi))


def cell_row(lat: float) -> int:
    """The grid row that holds latitude lat."""
    return math.floor((lat + 90.0) / CELL_DEG)


def cell_col(lon: float) -> int:
    """The grid column that holds longitude lon."""
    return math.floor((lon + 180.0) / CELL_DEG)


def cell_of(lat: float, lon: float) -> int:
    """The grid cell that holds the point."""
    return cell_row(lat) * CELL_ROW_STRIDE + cell_col(lon)


def chord2_for_distance(distance_m: float) -> float:
    """Squared chord length between unit vectors that lie distance_m apart on the sphere."""
    half_angle = min(distance_m / (2 * EARTH_RADIUS_M), math.pi / 2)
    return (2 * math.sin(half_angle)) ** 2


def distance_for_chord2(chord2: float) -> float:
    """Great-circle distance in metres for a squared chord length between unit vectors."""
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(max(chord2, 0.0)) / 2))


def valid_coordinates(lat: float, lon: float) -> bool:
    """True for finite latitude/longitude within their ranges."""
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


@dataclass(frozen=True)
class CellRange:
    """The cells [first, last] of one grid row."""

    first: int
    last: int


@dataclass(frozen=True)
class DiscCells:
    """The grid cells a circle touches, as ranges [first, last] of cell ids, at most two per row and kind."""

    cover: list[tuple[int, int]]  # may hold a point within the radius
    inner: list[tuple[int, int]]  # wholly inside the circle
    border: list[tuple[int, int]]  # cover without inner: the cells the circle's edge may cross


def _half_width(phi_c: float, cos_c: float, hav_angle: float, phi: float) -> float:
    """Half the longitude span (radians) of a cap at latitude phi: -1.0 where it misses, pi where whole.

    Solves the haversine formula for the longitude difference, which stays exact for caps of a
    metre (acos of a cosine would lose a few millimetres there).
    """
    rest = hav_angle - math.sin((phi - phi_c) / 2) ** 2
    if rest < 0:
        return -1.0
    bottom = cos_c * math.cos(phi)
    if rest >= bottom:  # also at a pole inside the cap
        return math.pi
    return 2 * math.asin(math.sqrt(rest / bottom))


def disc_cells(lat: float, lon: float, radius_m: float) -> DiscCells:
    """The cells that may hold a point within radius_m of (lat, lon), and those wholly inside that circle."""
    cover_angle = (radius_m * (1 + _COVER_SLACK) + 1e-6) / EARTH_RADIUS_M
    if cover_angle >= math.pi:
        whole = [(row * CELL_ROW_STRIDE, row * CELL_ROW_STRIDE + MAX_COL) for row in range(MAX_ROW + 1)]
        return DiscCells(whole, [], whole)
    phi_c = math.radians(lat)
    sin_c, cos_c = math.sin(phi_c), math.cos(phi_c)
    cos_cover = math.cos(cover_angle)
    hav_cover = math.sin(cover_angle / 2) ** 2
    hav_inner = math.sin(max(0.0, radius_m - INNER_MARGIN_M) / EARTH_RADIUS_M / 2) ** 2
    reach = math.degrees(cover_angle)
    first_row, last_row = max(0, cell_row(lat - reach)), min(MAX_ROW, cell_row(lat + reach))
    # The cap is widest in longitude on one parallel; a row's cells may hold points of the circle
    # out to the cap's width on the row's parallel nearest to that one. Half-widths are worked out
    # once per parallel between rows, for the circle (cover) and for the slightly smaller one (inner).
    widest = math.asin(max(-1.0, min(1.0, sin_c / cos_cover))) if cos_cover > 0 else phi_c
    to_rad = math.pi / 180.0
    edges = [max(-90.0, min(90.0, row * CELL_DEG - 90.0)) * to_rad for row in range(first_row, last_row + 2)]
    cover_w = [_half_width(phi_c, cos_c, hav_cover, edge) for edge in edges]
    inner_w = [_half_width(phi_c, cos_c, hav_inner, edge) for edge in edges]
    deg, floor, slack = math.degrees, math.floor, 1 + _COVER_SLACK
    cover: list[tuple[int, int]] = []
    inner: list[tuple[int, int]] = []
    border: list[tuple[int, int]] = []
    for index, row in enumerate(range(first_row, last_row + 1)):
        if widest < edges[index]:
            width = cover_w[index]
        elif widest > edges[index + 1]:
            width = cover_w[index + 1]
        else:
            width = _half_width(phi_c, cos_c, hav_cover, widest)
        if width < 0:  # the row's parallel nearest the widest one misses the circle
            tips = (phi_c - cover_angle, phi_c + cover_angle)
            if not any(edges[index] <= tip <= edges[index + 1] for tip in tips):
                continue  # and so does the row
            width = 0.0  # the circle only touches this row with its southern or northern tip
        width = deg(width) * slack + 1e-12
        base = row * CELL_ROW_STRIDE
        west, east = lon - width, lon + width
        if west < -180.0 or east > 180.0:  # across the antimeridian, or the whole row round a pole
            pieces = [(base + first, base + last) for first, last in _col_ranges(lon, width)]
            cover += pieces
            border += pieces
            continue
        c0, c1 = floor((west + 180.0) / CELL_DEG), floor((east + 180.0) / CELL_DEG)
        cover.append((base + c0, base + c1))
        # A cell is wholly inside when it is inside on both parallels that bound its row.
        south_w, north_w = inner_w[index], inner_w[index + 1]
        if south_w < 0 or north_w < 0:
            border.append((base + c0, base + c1))
            continue
        half = deg(south_w if south_w < north_w else north_w)
        i0 = max(c0, floor((lon - half + 180.0) / CELL_DEG) + 1)
        i1 = min(c1, floor((lon + half + 180.0) / CELL_DEG) - 1)
        if i0 > i1:
            border.append((base + c0, base + c1))
            continue
        inner.append((base + i0, base + i1))
        if c0 < i0:
            border.append((base + c0, base + i0 - 1))
        if i1 < c1:
            border.append((base + i1 + 1, base + c1))
    return DiscCells(cover, inner, border)


def box_cells(lat: float, lon: float, radius_m: float) -> DiscCells:
    """A cheaper, coarser disc_cells for small circles: cover is the circle's bounding box, inner a box inside it.

    Cells of cover may hold a point within radius_m; cells of inner lie wholly inside the circle
    (border is left empty). Falls back to disc_cells near a pole or the antimeridian.
    """
    angle = (radius_m * (1 + _COVER_SLACK) + 1e-6) / EARTH_RADIUS_M
    cos_lat = math.cos(math.radians(lat))
    if angle >= math.pi / 4 or math.sin(angle) >= 0.5 * cos_lat:
        return disc_cells(lat, lon, radius_m)
    half_lat = math.degrees(angle)
    half_lon = math.degrees(math.asin(math.sin(angle) / cos_lat)) * (1 + _COVER_SLACK) + 1e-12
    if lon - half_lon < -180.0 or lon + half_lon > 180.0:
        return disc_cells(lat, lon, radius_m)
    c0, c1 = cell_col(lon - half_lon), cell_col(lon + half_lon)
    cover = [
        (row * CELL_ROW_STRIDE + c0, row * CELL_ROW_STRIDE + c1)
        for row in range(cell_row(lat - half_lat), cell_row(lat + half_lat) + 1)
    ]
    # A box 0.69 as tall and wide as the bounding box has its corners at about 0.98 of the radius.
    inner_lat, inner_lon = half_lat * 0.69, half_lon * 0.69
    if max(haversine_m(lat, lon, lat + s * inner_lat, lon + inner_lon) for s in (-1, 1)) > radius_m - INNER_MARGIN_M:
        return DiscCells(cover, [], [])
    i0, i1 = cell_col(lon - inner_lon) + 1, cell_col(lon + inner_lon) - 1
    inner = [
        (row * CELL_ROW_STRIDE + i0, row * CELL_ROW_STRIDE + i1)
        for row in range(cell_row(lat - inner_lat) + 1, cell_row(lat + inner_lat))
    ]
    return DiscCells(cover, inner if i0 <= i1 else [], [])


def _col_ranges(lon: float, half_deg: float) -> tuple[tuple[int, int], ...]:
    """Column ranges of the longitudes within half_deg of lon, wrapping at the antimeridian."""
    if half_deg >= 180.0:
        return ((0, MAX_COL),)
    west, east = lon - half_deg, lon + half_deg
    if west < -180.0:
        return ((0, cell_col(east)), (cell_col(west + 360.0), MAX_COL))
    if east > 180.0:
        return ((0, cell_col(east - 360.0)), (cell_col(west), MAX_COL))
    return ((cell_col(west), cell_col(east)),)


def covering_ranges(lat: float, lon: float, radius_m: float) -> list[CellRange]:
    """Cell ranges, one or two per grid row, that together hold every point within radius_m.

    The exact distance test in SQL removes what lies in these cells but outside the circle.
    """
    return [CellRange(first, last) for first, last in disc_cells(lat, lon, radius_m).cover]
