"""The consumer register: look-ups by IVRS and the nearby search.

The nearby search answers "consumers within R metres of a point, nearest first, one page at a
time, and how many in all" with one SQL statement that SQLite and PostgreSQL both run, on two
structures kept in step with the table (see storage/models/consumers.py): the covering index
(grid row, cell, ux, uy, uz) and the per-cell counts in consumer_cells.

* The total adds the counts of the cells wholly inside the circle, and counts exactly (by
  chord length, i.e. great-circle distance) only the points in the cells its edge crosses:
  work grows with the circle's circumference, not with the consumers inside it.
* The page ranks points of a small circle only: the smallest of a few candidate radii whose
  wholly-inside cells already hold enough consumers for the page (every point of that circle
  is nearer than any point outside it), or the whole circle when none does.

Cell ranges travel as JSON objects ``{"first": last, ...}`` read with ``json_each``, which
both databases have, so the statement's text never changes: it is parsed, planned and cached
once per connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Float, TypeDecorator, column, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import instance_state

from storage import geo
from storage.ivrs import IVRS_LOOSE, normalise_ivrs
from storage.models import Consumer

__all__ = ["IVRS_LOOSE", "ConsumerRepository", "NearbyConsumer", "NearbyPage", "normalise_ivrs"]

# Radii tried for the page before the whole circle, smallest first: the first whose wholly-inside
# cells hold enough consumers is searched. At 1.5 cells the query's own cell always fits wholly
# inside (its far corner is at most a cell's diagonal away), which in a dense town core is enough.
CANDIDATE_RADII_M = (1.5 * geo.CELL_M, 2 * geo.CELL_M, 4 * geo.CELL_M, 8 * geo.CELL_M)


@dataclass(frozen=True)
class NearbyConsumer:
    consumer: Consumer
    distance_m: float


@dataclass(frozen=True)
class NearbyPage:
    items: list[NearbyConsumer]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.page_size < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 0


def _ranges_json(ranges: list[tuple[int, int]]) -> str:
    return "{" + ",".join([f'"{first}":{last}' for first, last in ranges]) + "}"


_KEY = "CAST(r.key AS BIGINT)"
_LAST = "CAST(CAST(r.value AS TEXT) AS BIGINT)"
_STRIDE = geo.CELL_ROW_STRIDE
_TAGS = 8  # the page's ranges carry the circle they belong to: key = first * _TAGS + circle
_CHORD2 = "(c.ux - :x) * (c.ux - :x) + (c.uy - :y) * (c.uy - :y) + (c.uz - :z) * (c.uz - :z)"
# Within the circle: chord² at most :chord2. For all but a sliver of points the dot product
# decides, as chord² = 2 - 2 dot for unit vectors, in half the arithmetic (a third less time
# per point on the circle's edge cells, which set the pace of the densest searches). Its rounding
# puts 2 - 2 dot within 1e-15 of the chord² as computed, so beyond DOT_MARGIN of the threshold it
# decides as the chord² would; nearer (under a millimetre at 750 m), the chord² itself decides.
DOT_MARGIN = 1e-14
_DOT = "c.ux * :x + c.uy * :y + c.uz * :z"
_WITHIN = (
    f"({_DOT} >= CAST(:dot_in AS DOUBLE PRECISION) OR ({_DOT} >= CAST(:dot_out AS DOUBLE PRECISION) "
    f"AND {_CHORD2} <= CAST(:chord2 AS DOUBLE PRECISION)))"
)


def _in_range(alias: str, first: str) -> str:
    """The cell of row alias lies in the range [first, r.value] of one grid row.

    Naming the grid row lets PostgreSQL estimate a few rows per range (see CELL_ROW_SQL in the model).
    """
    row = f"{alias}.cell / {_STRIDE}" if alias == "c" else f"{alias}.cell_row"
    return f"{row} = {first} / {_STRIDE} AND {alias}.cell BETWEEN {first} AND {_LAST}"


def _cells(param: str) -> str:
    """The consumers of the cells in the ranges of one JSON parameter, from consumer_cells."""
    ranges = f"json_each(:{param}) AS r"
    return f"SELECT COALESCE(SUM(cc.n), 0) FROM {ranges} JOIN consumer_cells AS cc ON {_in_range('cc', _KEY)}"


_K = len(CANDIDATE_RADII_M)
_PICK = " ".join(f"WHEN ({_cells(f'inner{j}')}) >= :need THEN {j}" for j in range(_K))
_CONSUMER_COLUMNS = ", ".join(f"consumers.{column.name}" for column in Consumer.__table__.columns)
# One statement: pick the page's circle, rank the points of its cells, count the whole circle.
# Every range list is a single json_each (never a UNION of them), which keeps PostgreSQL from
# planning a parallel append, whose workers would take longer to start than the query takes.
# LIMIT and OFFSET are subqueries so that PostgreSQL costs its generic plan like the custom ones
# and, after five runs of the prepared statement, keeps it instead of planning every call.
# A candidate circle's page needs no distance test: its wholly-inside cells hold enough
# consumers, so the nearest ones lie inside it anyway (the test would only work out every
# distance twice); the whole circle's page keeps the test.
NEARBY_SQL = f"""
WITH pick AS MATERIALIZED (SELECT CASE {_PICK} ELSE {_K} END AS j),
page AS (
    SELECT c.id AS id, {_CHORD2} AS d
    FROM json_each(:cover) AS r JOIN consumers AS c ON {_in_range("c", f"({_KEY} / {_TAGS})")}
    WHERE {_KEY} % {_TAGS} = (SELECT j FROM pick)
        AND ((SELECT j FROM pick) < {_K} OR {_WITHIN})
    ORDER BY d, id LIMIT (SELECT CAST(:limit AS BIGINT)) OFFSET (SELECT CAST(:offset AS BIGINT))
)
SELECT
    ({_cells("inner")})
    + (SELECT COUNT(*) FROM json_each(:border) AS r JOIN consumers AS c ON {_in_range("c", _KEY)}
       WHERE {_WITHIN}) AS total,
    page.d AS d, {_CONSUMER_COLUMNS}
FROM (SELECT 1 AS one) AS one
LEFT JOIN page ON 1 = 1
LEFT JOIN consumers ON consumers.id = page.id
ORDER BY page.d, page.id
"""
# Run as a Core statement: the ORM's loading machinery would cost more than the query itself.
_NEARBY = text(NEARBY_SQL).columns(column("total", BigInteger), column("d", Float), *Consumer.__table__.columns)
_ATTRIBUTES = tuple(Consumer.__mapper__.get_property_by_column(c).key for c in Consumer.__table__.columns)
_NEW_CONSUMER = Consumer.__mapper__.class_manager.new_instance


def _consumer(values: Any) -> Consumer:
    """A Consumer from its columns, as the ORM loads one but without a session (detached: it has its identity).

    Filled in straight, without attribute events, which costs a tenth of loading through the ORM.
    """
    consumer = _NEW_CONSUMER()
    consumer.__dict__.update(zip(_ATTRIBUTES, values, strict=True))
    instance_state(consumer).key = (Consumer, (consumer.id,), None)
    return consumer


def nearby_parameters(lat: float, lon: float, radius_m: float, need: int) -> dict[str, object]:
    """The bound values of NEARBY_SQL for a circle and the number of nearest consumers needed."""
    x, y, z = geo.unit_vector(lat, lon)
    params: dict[str, object] = {"x": x, "y": y, "z": z, "need": need}
    cover: list[str] = []
    for j, candidate in enumerate(CANDIDATE_RADII_M):
        cells = geo.box_cells(lat, lon, candidate) if candidate < radius_m else geo.DiscCells([], [], [])
        params[f"inner{j}"] = _ranges_json(cells.inner)
        cover += [f'"{first * _TAGS + j}":{last}' for first, last in cells.cover]
    cells = geo.disc_cells(lat, lon, radius_m)
    cover += [f'"{first * _TAGS + _K}":{last}' for first, last in cells.cover]
    chord2 = geo.chord2_for_distance(radius_m)
    params.update(
        {
            "inner": _ranges_json(cells.inner),
            "border": _ranges_json(cells.border),
            "cover": "{" + ",".join(cover) + "}",
            "chord2": chord2,
            "dot_in": 1.0 - chord2 / 2 + DOT_MARGIN,
            "dot_out": 1.0 - chord2 / 2 - DOT_MARGIN,
        }
    )
    return params


class ConsumerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_ivrs(self, ivrs: str) -> Consumer | None:
        normalised = normalise_ivrs(ivrs)
        if normalised is None:
            return None
        return await self.session.scalar(select(Consumer).where(Consumer.ivrs == normalised))

    async def get(self, consumer_id: int) -> Consumer | None:
        return await self.session.get(Consumer, consumer_id)

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Consumer)) or 0)

    async def add(self, consumer: Consumer) -> Consumer:
        """Add one consumer, filling its spatial columns from its coordinates."""
        if consumer.latitude is not None and consumer.longitude is not None:
            consumer.cell = geo.cell_of(consumer.latitude, consumer.longitude)
            consumer.ux, consumer.uy, consumer.uz = geo.unit_vector(consumer.latitude, consumer.longitude)
        self.session.add(consumer)
        await self.session.flush()
        return consumer

    async def nearby(self, lat: float, lon: float, radius_m: float, page: int = 0, page_size: int = 10) -> NearbyPage:
        """Consumers within radius_m of the point, nearest first (ties by id), one page at a time."""
        if not geo.valid_coordinates(lat, lon):
            raise ValueError("coordinates out of range")
        if not radius_m > 0 or page_size < 1:
            raise ValueError("radius and page size must be positive")
        page = max(0, page)
        params = nearby_parameters(lat, lon, radius_m, (page + 1) * page_size)
        params.update(limit=page_size, offset=page * page_size)
        rows = await self._nearby_rows(params)
        distance = geo.distance_for_chord2
        items = [NearbyConsumer(_consumer(row[2:]), distance(row[1])) for row in rows if row[2] is not None]
        return NearbyPage(items, int(rows[0][0]), page, page_size)

    async def _nearby_rows(self, params: dict[str, object]) -> Sequence[Sequence[Any]]:
        """The rows of NEARBY_SQL: total, chord², then the consumer's columns, as the statement's types give them.

        On PostgreSQL the statement goes to asyncpg directly, inside the session's transaction:
        SQLAlchemy's asyncpg adapter (its own statement cache, parameter and row handling, the
        greenlet hops) cost about 0.1 ms a call, an eighth of a search. asyncpg prepares the
        statement once per connection, as the adapter would.
        """
        connection = await self.session.connection()
        if connection.dialect.name != "postgresql":
            return (await connection.execute(_NEARBY, params)).all()
        driver = (await connection.get_raw_connection()).driver_connection
        rows = await driver.fetch(_PG_NEARBY_SQL, *[params[name] for name in _PG_NEARBY_PARAMS])
        return [tuple(f(v) if f else v for f, v in zip(_PG_CONVERT, row, strict=True)) for row in rows]


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """sql with its :name parameters as asyncpg's $1, $2 ... (a name used twice keeps its number), and the names."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)", number, sql), tuple(names)


_PG_NEARBY_SQL, _PG_NEARBY_PARAMS = _positional(NEARBY_SQL)
# asyncpg returns these columns' Python types itself; only a TypeDecorator (UTCDateTime) adds a step.
_PG_CONVERT = [
    (lambda value, t=c.type: t.process_result_value(value, None)) if isinstance(c.type, TypeDecorator) else None
    for c in _NEARBY.selected_columns
]
