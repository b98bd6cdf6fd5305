"""The nearby search against brute force, on SQLite and on PostgreSQL.

Hypothesis draws small registers clustered round a point (many consumers per circle, some exactly
on cell borders, some on the very same spot, some without a location) and circles of 1 m to 5 km,
centred on consumers, on cell corners or anywhere near; every page of every answer is compared
with haversine distances over all rows. A consumer within a micrometre of the edge may fall on
either side, and consumers within a micrometre of each other may come in either order.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, inspect, select, text

from storage import geo
from storage.db import Database
from storage.models import Base, Consumer
from storage.models.consumers import ConsumerCell
from storage.repositories.consumers import ConsumerRepository, NearbyPage, nearby_parameters
from tests.conftest import drop_database, make_database

EPS_M = 1e-6
BASES = [(23.18, 79.95), (24.53, 81.30), (0.0003, 179.9996), (-0.0001, -179.9999), (89.9991, 42.0)]


@pytest.fixture(params=["sqlite", "postgresql"])
def loop_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Database]]:
    """One database and the event loop it lives on, shared by every example of a Hypothesis test."""
    loop = asyncio.new_event_loop()
    try:
        db, schema = loop.run_until_complete(make_database(request.param, tmp_path))
    except BaseException:
        loop.close()
        raise
    try:
        yield loop, db
    finally:
        loop.run_until_complete(drop_database(db, schema))
        loop.close()


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point north_m and east_m away (flat-earth steps are fine here), kept on the globe."""
    lat2 = max(-90.0, min(90.0, lat + north_m / 111_195.0))
    lon2 = lon + east_m / (111_195.0 * max(math.cos(math.radians(lat)), 1e-6))
    return lat2, (lon2 + 540.0) % 360.0 - 180.0


def snap(value: float) -> float:
    """The nearest cell border (a multiple of the cell size, as the grid's formulas see it)."""
    return round(value / geo.CELL_DEG) * geo.CELL_DEG


@dataclass
class Register:
    points: list[tuple[float, float] | None]  # in insertion order; None: a consumer without a location


@st.composite
def registers(draw: st.DrawFn) -> tuple[tuple[float, float], Register]:
    base = draw(st.sampled_from(BASES))
    rng = random.Random(draw(st.integers(0, 2**32)))
    size, spread = draw(st.integers(0, 300)), draw(st.sampled_from([5.0, 60.0, 400.0, 2500.0]))
    points: list[tuple[float, float] | None] = []
    for _ in range(size):
        kind = rng.random()
        if kind < 0.05:
            points.append(None)
        elif kind < 0.15 and points and points[-1] is not None:
            points.append(points[-1])  # the same spot twice: a tie
        else:
            lat, lon = offset(*base, rng.gauss(0, spread), rng.gauss(0, spread))
            if kind < 0.35:
                lat, lon = snap(lat), lon if kind < 0.25 else snap(lon)
            points.append((lat, lon))
    return base, Register(points)


@st.composite
def circles(draw: st.DrawFn, base: tuple[float, float], register: Register) -> tuple[float, float, float, int]:
    located = [p for p in register.points if p is not None]
    kind = draw(st.sampled_from(["consumer", "corner", "near"] if located else ["corner", "near"]))
    if kind == "consumer":
        lat, lon = draw(st.sampled_from(located))
    else:
        lat, lon = offset(*base, draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000)))
        if kind == "corner":
            lat, lon = snap(lat), snap(lon)
    radius = math.exp(draw(st.floats(0.0, math.log(5000.0))))
    if located and draw(st.booleans()):  # put a consumer on, just inside or just outside the edge
        edge = geo.haversine_m(lat, lon, *draw(st.sampled_from(located)))
        edge += draw(st.sampled_from([-3.0, -1e-3, -1e-7, 0.0, 1e-7, 1e-3, 3.0]))
        radius = edge if 1.0 <= edge <= 5000.0 else radius
    return lat, lon, radius, draw(st.integers(1, 7))


def spatial(lat: float, lon: float) -> dict[str, float | int]:
    ux, uy, uz = geo.unit_vector(lat, lon)
    return {"latitude": lat, "longitude": lon, "cell": geo.cell_of(lat, lon), "ux": ux, "uy": uy, "uz": uz}


async def load(db: Database, register: Register) -> list[tuple[int, tuple[float, float] | None]]:
    """Replace the register; return (id, point) per consumer."""
    async with db.transaction() as s:
        await s.execute(delete(Consumer))
        rows = [
            {"ivrs": f"T{i:010d}", **(spatial(*point) if point else {})} for i, point in enumerate(register.points)
        ]
        if rows:
            await s.execute(insert(Consumer), rows)
        stored = (await s.execute(select(Consumer.id, Consumer.ivrs).order_by(Consumer.id))).all()
    return [(consumer_id, register.points[int(ivrs[1:])]) for consumer_id, ivrs in stored]


async def all_pages(db: Database, lat: float, lon: float, radius: float, size: int) -> list[NearbyPage]:
    """Every page of the answer, and one past the end."""
    pages = []
    async with db.reader() as s:
        repo = ConsumerRepository(s)
        while True:
            page = await repo.nearby(lat, lon, radius, len(pages), size)
            pages.append(page)
            if not page.items:
                return pages


def check_answer(pages: list[NearbyPage], consumers: list, lat: float, lon: float, radius: float, size: int) -> None:
    brute = sorted(
        (geo.haversine_m(lat, lon, *point), consumer_id) for consumer_id, point in consumers if point is not None
    )
    must = [item for item in brute if item[0] <= radius - EPS_M]
    may = [item for item in brute if item[0] <= radius + EPS_M]
    total = pages[0].total
    got = [(item.distance_m, item.consumer.id) for page in pages for item in page.items]
    assert len(must) <= total <= len(may)
    assert len(got) == total and len({consumer_id for _, consumer_id in got}) == total
    distance_of = {consumer_id: d for d, consumer_id in brute}
    for (d, consumer_id), (want, _) in zip(got, may, strict=False):
        assert d == pytest.approx(distance_of[consumer_id], abs=EPS_M)
        assert d == pytest.approx(want, abs=EPS_M)  # the k-th nearest, whoever it is among ties
    assert {consumer_id for _, consumer_id in must} <= {consumer_id for _, consumer_id in got}
    spot = {consumer_id: point for consumer_id, point in consumers}
    for (_, a), (_, b) in itertools.pairwise(got):
        if spot[a] == spot[b]:
            assert a < b  # ties broken by id
    for number, page in enumerate(pages):
        assert (page.total, page.page, page.page_size) == (total, number, size)
        assert page.pages == max(1, -(-total // size))
        assert page.has_previous == (number > 0)
        assert page.has_next == ((number + 1) * size < total)
        assert len(page.items) == (min(size, total - number * size) if number * size < total else 0)


@given(
    st.floats(-89.9, 89.9),
    st.floats(-180.0, 180.0),
    st.floats(1.0, 5000.0),
    st.floats(0.0, 2 * math.pi),
    st.floats(-1e-3, 1e-3),
)
def test_the_dot_product_decides_as_the_chord_would_beyond_its_margin(
    lat: float, lon: float, radius: float, bearing: float, off_edge: float
) -> None:
    """The search's edge test (the dot product, the chord² near the threshold) decides as the chord² alone."""
    point = offset(lat, lon, (radius + off_edge) * math.cos(bearing), (radius + off_edge) * math.sin(bearing))
    x, y, z = geo.unit_vector(lat, lon)
    ux, uy, uz = geo.unit_vector(*point)
    p = nearby_parameters(lat, lon, radius, 10)
    dot = ux * x + uy * y + uz * z  # in the order SQL evaluates them
    chord2 = (ux - x) * (ux - x) + (uy - y) * (uy - y) + (uz - z) * (uz - z)
    assert (dot >= p["dot_in"] or (dot >= p["dot_out"] and chord2 <= p["chord2"])) == (chord2 <= p["chord2"])


async def counts_match(db: Database) -> None:
    async with db.reader() as s:
        kept = dict((await s.execute(select(ConsumerCell.cell, ConsumerCell.n).where(ConsumerCell.n != 0))).all())
        actual = await s.execute(
            select(Consumer.cell, text("count(*)")).where(Consumer.cell.is_not(None)).group_by(Consumer.cell)
        )
        assert kept == dict(actual.all())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_nearby_equals_brute_force(loop_db: tuple[asyncio.AbstractEventLoop, Database], data: st.DataObject) -> None:
    loop, db = loop_db
    base, register = data.draw(registers())
    consumers = loop.run_until_complete(load(db, register))
    loop.run_until_complete(counts_match(db))
    for _ in range(data.draw(st.integers(1, 4))):
        lat, lon, radius, size = data.draw(circles(base, register))
        pages = loop.run_until_complete(all_pages(db, lat, lon, radius, size))
        check_answer(pages, consumers, lat, lon, radius, size)


async def add_row(db: Database, ivrs: str, lat: float | None, lon: float | None) -> int:
    async with db.transaction() as s:
        consumer = await ConsumerRepository(s).add(Consumer(ivrs=ivrs, latitude=lat, longitude=lon))
        return consumer.id


async def test_pages_of_a_street(db: Database) -> None:
    # 23 consumers 10 m apart along a parallel through a cell border, and one without a location.
    border = geo.cell_col(79.95) * geo.CELL_DEG - 180.0
    ids = [await add_row(db, f"N{i:010d}", 23.18, border - 0.0005 + i * 0.0001) for i in range(23)]
    await add_row(db, "N9999999999", None, None)
    lat, lon = 23.18, border - 0.00055
    pages = await all_pages(db, lat, lon, 750, 10)
    assert [len(p.items) for p in pages] == [10, 10, 3, 0]
    assert [item.consumer.id for p in pages for item in p.items] == ids
    assert [(p.has_previous, p.has_next, p.pages, p.total) for p in pages] == [
        (False, True, 3, 23),
        (True, True, 3, 23),
        (True, False, 3, 23),
        (True, False, 3, 23),
    ]
    first = pages[0].items[0]
    assert first.consumer.ivrs == "N0000000000"
    assert first.distance_m == pytest.approx(geo.haversine_m(lat, lon, 23.18, border - 0.0005), abs=EPS_M)
    async with db.reader() as s:
        far = await ConsumerRepository(s).nearby(lat, lon, 50, 0, 10)
        negative = await ConsumerRepository(s).nearby(lat, lon, 50, -3, 10)
    assert [item.consumer.id for item in far.items] == ids[:5] and far.total == 5
    assert negative.page == 0 and negative.total == 5


async def test_the_consumers_of_a_page_are_as_the_orm_loads_them(db: Database) -> None:
    await add_row(db, "N0000000001", 23.18, 79.95)
    await add_row(db, "N0000000002", 23.181, 79.95)
    async with db.reader() as s:
        page = await ConsumerRepository(s).nearby(23.18, 79.95, 750)
        loaded = {c.id: c for c in (await s.execute(select(Consumer))).scalars()}
    assert [item.consumer.ivrs for item in page.items] == ["N0000000001", "N0000000002"]
    for item in page.items:
        consumer = item.consumer
        assert isinstance(consumer, Consumer)
        state = inspect(consumer)
        assert state.detached and state.key == inspect(loaded[consumer.id]).key and not state.unloaded
        columns = [column.key for column in Consumer.__table__.columns]
        assert [getattr(consumer, name) for name in columns] == [getattr(loaded[consumer.id], name) for name in columns]
        assert consumer.updated_at.tzinfo is not None  # the column's type processed it, as the ORM's load does


async def test_no_consumers_nearby(db: Database) -> None:
    await add_row(db, "N0000000001", 23.18, 79.95)
    await add_row(db, "N0000000002", None, None)
    async with db.reader() as s:
        page = await ConsumerRepository(s).nearby(23.84, 78.74, 750)
    assert page.items == [] and page.total == 0 and page.pages == 1
    assert not page.has_next and not page.has_previous


async def test_invalid_input_is_refused(sqlite_db: Database) -> None:
    bad = [(91, 0, 750), (-90.5, 0, 750), (0, 180.01, 750), (math.nan, 0, 750), (0, math.inf, 750), (23, 79, 0)]
    async with sqlite_db.reader() as s:
        for lat, lon, radius in [*bad, (23, 79, -1), (23, 79, math.nan)]:
            with pytest.raises(ValueError):
                await ConsumerRepository(s).nearby(lat, lon, radius)
        with pytest.raises(ValueError):
            await ConsumerRepository(s).nearby(23, 79, 750, 0, 0)


async def test_cell_counts_follow_inserts_moves_and_deletes(db: Database) -> None:
    first = await add_row(db, "N0000000001", 23.18, 79.95)
    second = await add_row(db, "N0000000002", 23.18, 79.95)
    await add_row(db, "N0000000003", None, None)
    await counts_match(db)
    async with db.transaction() as s:
        moved = await s.get(Consumer, first)
        assert moved is not None
        moved.latitude, moved.longitude = 24.53, 81.30
        moved.cell = geo.cell_of(24.53, 81.30)
        gone = await s.get(Consumer, second)
        assert gone is not None
        gone.cell = gone.latitude = gone.longitude = None
    await counts_match(db)
    async with db.transaction() as s:
        await s.execute(delete(Consumer).where(Consumer.id == first))
    await counts_match(db)
    async with db.reader() as s:
        assert (await ConsumerRepository(s).nearby(24.53, 81.30, 750)).total == 0


async def test_migration_and_models_make_the_same_consumer_schema(tmp_path: Path) -> None:
    migrated, _ = await make_database("sqlite", tmp_path)
    created = Database(f"sqlite+aiosqlite:///{tmp_path / 'created.db'}")
    try:
        async with created.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        schemas = []
        for db in (migrated, created):
            async with db.reader() as s:
                rows = await s.execute(
                    text(
                        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('consumers', 'consumer_cells') "
                        "AND sql IS NOT NULL ORDER BY type, name"
                    )
                )
                schemas.append({(kind, name): " ".join(sql.split()) for kind, name, sql in rows})
        assert schemas[0].keys() == schemas[1].keys()
        assert {k: v for k, v in schemas[0].items() if k[0] != "table"} == {
            k: v for k, v in schemas[1].items() if k[0] != "table"
        }
    finally:
        await migrated.dispose()
        await created.dispose()
