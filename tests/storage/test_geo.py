"""Spherical geometry and the grid behind the nearby search (storage/geo.py): pure functions, no database."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from storage import geo

JABALPUR = (23.18, 79.95)
SAGAR = (23.84, 78.74)


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the atan2 (Vincenty) formula: an independent check of haversine_m."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    dl = l2 - l1
    north = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    across = math.hypot(math.cos(p2) * math.sin(dl), north)
    along = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return geo.EARTH_RADIUS_M * math.atan2(across, along)


def destination(lat: float, lon: float, distance_m: float, bearing: float) -> tuple[float, float]:
    """The point distance_m from (lat, lon) along the given bearing (radians), longitude wrapped to [-180, 180]."""
    p1, angle = math.radians(lat), distance_m / geo.EARTH_RADIUS_M
    sin_p2 = math.sin(p1) * math.cos(angle) + math.cos(p1) * math.sin(angle) * math.cos(bearing)
    p2 = math.asin(max(-1.0, min(1.0, sin_p2)))
    dl = math.atan2(math.sin(bearing) * math.sin(angle) * math.cos(p1), math.cos(angle) - math.sin(p1) * sin_p2)
    return math.degrees(p2), (math.degrees(math.radians(lon) + dl) + 540.0) % 360.0 - 180.0


def in_ranges(cell: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= cell <= last for first, last in ranges)


def test_jabalpur_to_sagar_matches_an_independent_formula() -> None:
    distance = geo.haversine_m(*JABALPUR, *SAGAR)
    assert distance == pytest.approx(vincenty_m(*JABALPUR, *SAGAR), rel=1e-9)
    # 0.66 degrees north and 1.21 east at 23.5 N: about 143.6 km as the crow flies.
    assert distance == pytest.approx(143_553, abs=1000)


def test_known_distances() -> None:
    assert geo.haversine_m(0, 0, 1, 0) == pytest.approx(geo.EARTH_RADIUS_M * math.pi / 180, rel=1e-12)
    assert geo.haversine_m(0, 0, 0, 90) == pytest.approx(geo.EARTH_RADIUS_M * math.pi / 2, rel=1e-12)
    # Haversine loses precision near the antipode (asin near 1): a few decimetres in 20,000 km.
    assert geo.haversine_m(10, 20, -10, -160) == pytest.approx(geo.EARTH_RADIUS_M * math.pi, rel=1e-7)
    assert geo.haversine_m(*JABALPUR, *JABALPUR) == 0


@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180))
def test_chord_and_haversine_agree(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    a, b = geo.unit_vector(lat1, lon1), geo.unit_vector(lat2, lon2)
    chord2 = sum((p - q) ** 2 for p, q in zip(a, b, strict=True))
    assert geo.distance_for_chord2(chord2) == pytest.approx(geo.haversine_m(lat1, lon1, lat2, lon2), abs=1e-3)
    assert geo.chord2_for_distance(geo.distance_for_chord2(chord2)) == pytest.approx(chord2, rel=1e-9, abs=1e-24)


def test_cell_of_puts_borders_in_the_cell_to_their_north_and_east() -> None:
    assert geo.cell_of(0.0, 0.0) == geo.cell_row(0.0) * geo.CELL_ROW_STRIDE + geo.cell_col(0.0)
    assert geo.cell_row(0.0) == round(90 / geo.CELL_DEG) and geo.cell_col(0.0) == round(180 / geo.CELL_DEG)
    assert geo.cell_row(-1e-9) == geo.cell_row(0.0) - 1
    assert geo.cell_col(-1e-9) == geo.cell_col(0.0) - 1
    assert geo.cell_row(-90.0) == 0 and geo.cell_row(90.0) == geo.MAX_ROW
    assert geo.cell_col(-180.0) == 0 and geo.cell_col(180.0) == geo.MAX_COL
    assert geo.MAX_COL < geo.CELL_ROW_STRIDE  # rows never share a cell id


@given(st.integers(0, geo.MAX_ROW - 1), st.integers(0, geo.MAX_COL - 1))
def test_cell_of_a_cell_corner(row: int, col: int) -> None:
    lat, lon = row * geo.CELL_DEG - 90.0, col * geo.CELL_DEG - 180.0
    # A corner computed in floating point lands in its own cell or, a rounding away, in a neighbour.
    assert geo.cell_row(lat) in (row - 1, row) and geo.cell_col(lon) in (col - 1, col)
    assert geo.cell_of(lat, lon) == geo.cell_row(lat) * geo.CELL_ROW_STRIDE + geo.cell_col(lon)


def _centres() -> st.SearchStrategy[tuple[float, float]]:
    anywhere = st.tuples(st.floats(-90, 90), st.floats(-180, 180))
    service_area = st.tuples(st.floats(21.0, 25.5), st.floats(77.9, 83.0))
    rows = st.integers(geo.cell_row(21.0), geo.cell_row(25.5))
    cols = st.integers(geo.cell_col(77.9), geo.cell_col(83.0))
    grid = st.tuples(rows, cols).map(lambda rc: (rc[0] * geo.CELL_DEG - 90.0, rc[1] * geo.CELL_DEG - 180.0))
    edges = st.tuples(
        st.sampled_from([90.0, -90.0, 89.999, -89.9999, 0.0]), st.sampled_from([180.0, -180.0, 179.9995, -179.999, 0.0])
    )
    return st.one_of(anywhere, service_area, grid, edges)


@settings(max_examples=300, deadline=None)
@given(_centres(), st.floats(1.0, 5000.0), st.lists(st.tuples(st.floats(0, 1), st.floats(0, 2 * math.pi)), max_size=40))
def test_disc_cells_cover_every_point_of_the_circle(
    centre: tuple[float, float], radius: float, samples: list[tuple[float, float]]
) -> None:
    cells = geo.disc_cells(*centre, radius)
    assert set(cells.inner).isdisjoint(cells.border)
    for fraction, bearing in [*samples, (1.0, 0.0), (1.0, math.pi / 2), (1.0, math.pi), (1.0, 3 * math.pi / 2)]:
        point = destination(*centre, radius * math.sqrt(fraction), bearing)
        distance = geo.haversine_m(*centre, *point)
        cell = geo.cell_of(*point)
        if distance <= radius - 1e-6:
            assert in_ranges(cell, cells.cover), (point, distance)
            assert in_ranges(cell, cells.inner) != in_ranges(cell, cells.border), (point, distance)
    for first, last in cells.inner:  # every corner of every inner cell lies inside the circle
        row = first // geo.CELL_ROW_STRIDE
        for col in (first % geo.CELL_ROW_STRIDE, last % geo.CELL_ROW_STRIDE + 1):
            for edge in (row, row + 1):
                corner = (edge * geo.CELL_DEG - 90.0, col * geo.CELL_DEG - 180.0)
                assert geo.haversine_m(*centre, *corner) <= radius


@settings(max_examples=300, deadline=None)
@given(_centres(), st.floats(1.0, 1000.0), st.floats(0, 1), st.floats(0, 2 * math.pi))
def test_box_cells_cover_the_circle_and_keep_inner_cells_inside(
    centre: tuple[float, float], radius: float, fraction: float, bearing: float
) -> None:
    cells = geo.box_cells(*centre, radius)
    point = destination(*centre, radius * math.sqrt(fraction), bearing)
    assume(geo.haversine_m(*centre, *point) <= radius - 1e-6)
    assert in_ranges(geo.cell_of(*point), cells.cover)
    for first, last in cells.inner:
        row = first // geo.CELL_ROW_STRIDE
        assert in_ranges(first, cells.cover) and in_ranges(last, cells.cover)
        for col in (first % geo.CELL_ROW_STRIDE, last % geo.CELL_ROW_STRIDE + 1):
            for edge in (row, row + 1):
                corner = (edge * geo.CELL_DEG - 90.0, col * geo.CELL_DEG - 180.0)
                assert geo.haversine_m(*centre, *corner) <= radius


def test_a_circle_in_the_service_area_is_mostly_inner_cells() -> None:
    cells = geo.disc_cells(*JABALPUR, 750)
    rows = {first // geo.CELL_ROW_STRIDE for first, _ in cells.cover}
    assert len(rows) == len(cells.cover)  # one range per row away from the antimeridian
    inner = sum(last - first + 1 for first, last in cells.inner)
    cover = sum(last - first + 1 for first, last in cells.cover)
    assert 0.5 < inner / cover < 1


def test_covering_ranges_wrap_at_the_antimeridian() -> None:
    ranges = geo.covering_ranges(0.0, 179.9999, 100)
    cols = {(r.first % geo.CELL_ROW_STRIDE, r.last % geo.CELL_ROW_STRIDE) for r in ranges}
    assert any(first == 0 for first, _ in cols) and any(last == geo.MAX_COL for _, last in cols)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(geo.cell_row(-80.0), geo.cell_row(80.0)),
    st.integers(0, geo.MAX_COL),
    st.booleans(),
    st.floats(1.0, 5000.0),
    st.floats(0, 2 * math.pi),
)
def test_a_point_on_a_cell_border_just_inside_the_edge_is_covered(
    row: int, col: int, corner: bool, radius: float, bearing: float
) -> None:
    # The centre is placed so that the circle's edge passes two micrometres beyond a cell border.
    point = ((row * geo.CELL_DEG - 90.0) if corner else (row + 0.5) * geo.CELL_DEG - 90.0, col * geo.CELL_DEG - 180.0)
    centre = destination(*point, radius - 2e-6, bearing)
    assume(geo.haversine_m(*centre, *point) <= radius - 1e-6)
    cells = geo.disc_cells(*centre, radius)
    assert in_ranges(geo.cell_of(*point), cells.cover)
    if in_ranges(geo.cell_of(*point), cells.inner):
        pytest.fail("a point at the edge lies in a cell counted as wholly inside")
