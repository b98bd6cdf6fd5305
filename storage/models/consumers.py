"""The consumer register: one row per electricity connection, with its spatial index columns.

The nearby search (storage/repositories/consumers.py) reads two structures:

* ``ix_consumers_cell_vec``: the grid cell (storage/geo.py) then the point as a unit vector, so a
  range of cells is scanned and its points ranked without visiting the table;
* ``consumer_cells``: how many consumers each cell holds, kept by triggers on ``consumers``,
  so the cells wholly inside a circle are counted by adding numbers instead of visiting points.

The triggers are the same in the migration (0001); they are declared here too so that a
schema made with ``Base.metadata.create_all`` keeps the counts as well.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, BigInteger, Float, Index, Integer, PrimaryKeyConstraint, String, event, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.geo import CELL_ROW_STRIDE
from storage.models.base import Base, UTCDateTime, utcnow

# The grid row of a cell. Every cell range the nearby search reads lies in one row, and saying so
# (``cell / stride = row AND cell BETWEEN a AND b``) lets PostgreSQL estimate a few rows per range
# instead of a fixed share of the table, which would make it pick sequential scans and JIT.
CELL_ROW_SQL = f"cell / {CELL_ROW_STRIDE}"


class Consumer(Base):
    __tablename__ = "consumers"
    __table_args__ = (
        # Covering index for the nearby search: the grid row and cell select, the unit vector ranks,
        # and (on PostgreSQL, where an index does not hold the row id by itself) the id names the row.
        Index("ix_consumers_cell_vec", text(f"({CELL_ROW_SQL})"), "cell", "ux", "uy", "uz", postgresql_include=["id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ivrs: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    district: Mapped[str | None] = mapped_column(String(60))
    category: Mapped[str | None] = mapped_column(String(20))
    sanctioned_load_kw: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # Grid cell (see storage/geo.py) and the point as a unit vector on the sphere.
    cell: Mapped[int | None] = mapped_column(BigInteger)
    ux: Mapped[float | None] = mapped_column(Float)
    uy: Mapped[float | None] = mapped_column(Float)
    uz: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ConsumerCell(Base):
    """How many consumers one grid cell holds (rows may stay at zero). Written only by triggers."""

    __tablename__ = "consumer_cells"
    __table_args__ = (
        # Clustered by cell on SQLite; on PostgreSQL the key index carries n, so sums never read the table.
        PrimaryKeyConstraint("cell_row", "cell", postgresql_include=["n"]),
        {"sqlite_with_rowid": False},
    )

    cell_row: Mapped[int] = mapped_column(BigInteger, autoincrement=False)  # cell / CELL_ROW_STRIDE
    cell: Mapped[int] = mapped_column(BigInteger, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)


# SQLite has row triggers only: one upsert per consumer written.
SQLITE_CELL_TRIGGERS = tuple(
    statement.format(CELL_ROW_SQL=CELL_ROW_SQL)
    for statement in (
    """CREATE TRIGGER consumers_cells_insert AFTER INSERT ON consumers WHEN NEW.cell IS NOT NULL BEGIN
    INSERT INTO consumer_cells (cell_row, cell, n) VALUES (NEW.{CELL_ROW_SQL}, NEW.cell, 1)
        ON CONFLICT (cell_row, cell) DO UPDATE SET n = n + 1;
END""",
    """CREATE TRIGGER consumers_cells_update AFTER UPDATE OF cell ON consumers
WHEN OLD.cell IS NOT NEW.cell BEGIN
    UPDATE consumer_cells SET n = n - 1 WHERE cell_row = OLD.{CELL_ROW_SQL} AND cell = OLD.cell;
    INSERT INTO consumer_cells (cell_row, cell, n) SELECT NEW.{CELL_ROW_SQL}, NEW.cell, 1 WHERE NEW.cell IS NOT NULL
        ON CONFLICT (cell_row, cell) DO UPDATE SET n = n + 1;
END""",
    """CREATE TRIGGER consumers_cells_delete AFTER DELETE ON consumers WHEN OLD.cell IS NOT NULL BEGIN
    UPDATE consumer_cells SET n = n - 1 WHERE cell_row = OLD.{CELL_ROW_SQL} AND cell = OLD.cell;
END""",
    )
)

# PostgreSQL counts once per statement from the transition tables, so a COPY of thousands of rows
# costs one grouped upsert. Cells are upserted in order, so concurrent writers lock them in the
# same order and cannot deadlock on them.
_PG_APPLY = f"""
    INSERT INTO consumer_cells (cell_row, cell, n)
    SELECT {CELL_ROW_SQL}, cell, SUM(d) FROM ({{rows}}) AS changes WHERE cell IS NOT NULL
    GROUP BY cell HAVING SUM(d) <> 0 ORDER BY cell
    ON CONFLICT (cell_row, cell) DO UPDATE SET n = consumer_cells.n + EXCLUDED.n;
    RETURN NULL;"""
_PG_EVENTS = (
    ("insert", "NEW TABLE AS new_rows", "SELECT cell, 1 AS d FROM new_rows"),
    (
        "update",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT cell, 1 AS d FROM new_rows UNION ALL SELECT cell, -1 FROM old_rows",
    ),
    ("delete", "OLD TABLE AS old_rows", "SELECT cell, -1 AS d FROM old_rows"),
)
POSTGRES_CELL_TRIGGERS = tuple(
    statement
    for event_, tables, rows in _PG_EVENTS
    for statement in (
        f"""CREATE FUNCTION consumer_cells_after_{event_}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{_PG_APPLY.format(rows=rows)}
END $$""",
        f"""CREATE TRIGGER consumers_cells_{event_} AFTER {event_.upper()} ON consumers REFERENCING {tables}
    FOR EACH STATEMENT EXECUTE FUNCTION consumer_cells_after_{event_}()""",
    )
)
POSTGRES_CELL_TRIGGERS_DROP = tuple(
    f"DROP FUNCTION IF EXISTS consumer_cells_after_{event_}() CASCADE" for event_ in ("insert", "update", "delete")
)

for _statement in SQLITE_CELL_TRIGGERS:
    event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRES_CELL_TRIGGERS:
    event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in POSTGRES_CELL_TRIGGERS_DROP:
    event.listen(Base.metadata, "after_drop", DDL(_statement).execute_if(dialect="postgresql"))
