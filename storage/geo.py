"""Spherical geometry and the grid that indexes points for the nearby search.

A point is stored with two derived values:

* ``cell``: the grid cell it falls in, an integer ``row * CELL_ROW_STRIDE + col`` where
  ``row = floor((lat + 90) / CELL_DEG)`` and ``col = floor((lon + 180) / CELL_DEG)``.
  Cells of one grid row are consecutive integers, so the cells a circle touches in one row
  are a single B-tree range (``cell BETWEEN a AND b``).
* ``(ux, uy, uz)``: the point as a unit vector. The straight-line (chord) distance between two
  unit vectors grows monotonically with the great-circle distance, so ``ORDER BY`` a sum of
  squared differences ranks by exact great-circle distance with nothing but arithmetic, which
  SQLite and PostgreSQL evaluate alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
CELL_DEG = 0.0025  # about 278 m north-south; 255 m east-west at 23.5 N
CELL_ROW_STRIDE = 1_000_000  # > 360 / CELL_DEG, so rows never overlap


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
    return math.floor((lat + 90.0) / CELL_DEG)


def cell_col(lon: float) -> int:
    return math.floor((lon + 180.0) / CELL_DEG)


def cell_of(lat: float, lon: float) -> int:
    """The grid cell that holds the point."""
    return cell_row(lat) * CELL_ROW_STRIDE + cell_col(lon)


def chord2_for_distance(distance_m: float) -> float:
    """Squared chord length between unit vectors that lie distance_m apart on the sphere."""
    half_angle = distance_m / (2 * EARTH_RADIUS_M)
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


def covering_ranges(lat: float, lon: float, radius_m: float) -> list[CellRange]:
    """Cell ranges, one per grid row, that together hold every point within radius_m.

    The exact distance test in SQL removes what lies in these cells but outside the circle.
    """
    angle = radius_m / EARTH_RADIUS_M
    # A tiny widening absorbs floating-point rounding at the very edge of the circle.
    dlat = math.degrees(angle) * (1 + 1e-9) + 1e-12
    lat_lo, lat_hi = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if lat_lo <= -89.9 or lat_hi >= 89.9:
        dlon = 180.0
    else:
        # Exact longitude half-width of a spherical cap centred at latitude `lat`.
        ratio = math.sin(angle) / math.cos(math.radians(lat))
        dlon = 180.0 if ratio >= 1 else math.degrees(math.asin(ratio)) * (1 + 1e-9) + 1e-12
    col_lo, col_hi = cell_col(lon - dlon), cell_col(lon + dlon)
    return [
        CellRange(row * CELL_ROW_STRIDE + col_lo, row * CELL_ROW_STRIDE + col_hi)
        for row in range(cell_row(lat_lo), cell_row(lat_hi) + 1)
    ]
