"""The database side of the register import: one batch writer per backend, on the raw driver.

This module holds what both share, the SQLite writer and open_writer; the PostgreSQL writer is
in storage/consumer_writer_postgres.py.

SQLAlchemy builds the statements (the dialect's INSERT ... ON CONFLICT, the index DDL from the
model), but rows go straight to the driver: on SQLite aiosqlite's executemany of multi-row
INSERTs; on PostgreSQL asyncpg's binary COPY, straight into the table for new rows, or into a
temporary staging table and then INSERT ... SELECT ... ON CONFLICT. That skips SQLAlchemy's
per-row parameter processing, which would cost more than the database work itself.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import bindparam, literal_column
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, DropIndex

from storage.consumer_batches import ROW_COLUMNS  # a writer's rows come as these columns; updated_at is the stamp
from storage.db import Database
from storage.models import Consumer
from storage.models.consumers import CELL_ROW_SQL, SQLITE_CELL_TRIGGERS

# The import connection's own settings, put back when it returns to the pool: a bigger page
# cache (SQLite's default is 2 MiB), WAL checkpoints (each one an fsync) every 64 MiB rather
# than every 4 MiB, and helper threads for the sorts that build the indexes after a bulk load
# (a third less time at 5M rows on 2 cores; SQLite's default is none).
SQLITE_IMPORT_PRAGMAS = {"cache_size": -32768, "wal_autocheckpoint": 16384, "threads": min(os.cpu_count() or 1, 4)}
ROWS_PER_STATEMENT = 50  # 600 parameters, well under SQLite's limit of 32,766
# Rebuilds consumer_cells from the consumers, as the triggers in storage/models/consumers.py keep it.
# Grouped in the order of ix_consumers_cell_vec (grid row, cell), so the counts come from one walk
# of that index, already in the order of consumer_cells' key.
CELL_RECOUNT = (
    "DELETE FROM consumer_cells",
    "INSERT INTO consumer_cells (cell_row, cell, n) "
    f"SELECT {CELL_ROW_SQL}, cell, count(*) FROM consumers WHERE cell IS NOT NULL "
    f"GROUP BY {CELL_ROW_SQL}, cell ORDER BY {CELL_ROW_SQL}, cell",
)
_TABLE = Consumer.__table__


class ImportRunning(Exception):
    """Another import of the consumer register holds the table (PostgreSQL), and the caller chose not to wait."""


class BatchWriter(ABC):
    """Writes batches of rows into the consumers table, given as columns (one list per name in ROW_COLUMNS)."""

    def __init__(self, driver: Any, dialect: Dialect, stamp_param: object) -> None:
        self.driver = driver
        self.dialect = dialect
        self.stamp_param = stamp_param  # this import's updated_at, as the driver stores it
        self.fresh = False  # the table was empty when the import started
        # A writer may leave the IVRS key to be checked when the load is over (see restore). Then
        # last_ids are the ids given to the rows of the last insert_new, in order, and restore
        # lists the rows it had to delete as (id, id of the row kept, IVRS).
        self.keys_deferred = False
        self.last_ids: range | None = None
        self.dropped_duplicates: list[tuple[int, int, str]] = []
        self._indexes_dropped = False
        self._has_cells = False

    def _sql(self, statement: Any) -> str:
        return str(statement.compile(dialect=self.dialect))

    async def open(self, *, wait: bool = True) -> None:
        """Take the table (wait: for another import to end, where imports take turns; else ImportRunning)."""
        self.fresh = not await self._fetch("SELECT 1 FROM consumers LIMIT 1")

    async def prepare(self, *, bulk: bool) -> None:
        """Get ready to import; for a bulk load drop what is faster built once at the end, otherwise repair.

        That is the secondary indexes, and the triggers that keep consumer_cells (the per-cell
        counts of the nearby search), which cost about one upsert per row written.
        """
        await self._get_ready()
        if not bulk:
            await self.repair()
            return
        self._has_cells = await self._has_table("consumer_cells")
        for index in _TABLE.indexes:
            await self._execute(self._sql(DropIndex(index, if_exists=True)))
        self._indexes_dropped = True
        if self._has_cells:
            await self._suspend_cell_triggers()

    async def _get_ready(self) -> None:  # noqa: B027  (a hook)
        """Set up what an import needs (statements, settings); undone by close."""

    async def repair(self) -> None:
        """Put back what a killed bulk load left out (see restore); all the bot's start-up does with a writer."""
        self._has_cells = await self._has_table("consumer_cells")
        await self.restore()

    async def restore(self) -> None:
        """Create missing keys and secondary indexes; turn the cell-count triggers back on (and recount) if off."""
        for index in _TABLE.indexes:
            await self._execute(self._sql(CreateIndex(index, if_not_exists=True)))
        bulk = self._indexes_dropped
        await self._indexes_built(bulk)
        self._indexes_dropped = False
        if not (self._has_cells and await self._cell_triggers_off()):
            return
        await self.begin()
        try:
            await self._resume_cell_triggers()
            await self._recount(bulk=bulk)
        except BaseException:
            await self.rollback()
            raise
        await self.commit()

    async def _indexes_built(self, rebuilt: bool) -> None:  # noqa: B027  (a hook)
        """Called once the secondary indexes are in place (rebuilt: after a bulk load)."""

    async def _recount(self, *, bulk: bool) -> None:
        """Rebuild consumer_cells, in the transaction that turned the triggers back on (bulk: after a bulk load)."""
        for sql in CELL_RECOUNT:
            await self._execute(sql)

    @abstractmethod
    async def _has_table(self, name: str) -> bool:
        ...

    @abstractmethod
    async def _suspend_cell_triggers(self) -> None:
        ...

    @abstractmethod
    async def _cell_triggers_off(self) -> bool:
        ...

    @abstractmethod
    async def _resume_cell_triggers(self) -> None:
        ...

    async def close(self) -> None:  # noqa: B027  (a hook: most writers have nothing to undo)
        """Undo per-connection settings before the connection goes back to the pool."""

    @abstractmethod
    async def _fetch(self, sql: str, *params: Any) -> list[tuple]:
        ...

    @abstractmethod
    async def _execute(self, sql: str, *params: Any) -> None:
        ...

    @abstractmethod
    async def begin(self) -> None:
        ...

    @abstractmethod
    async def commit(self) -> None:
        ...

    @abstractmethod
    async def rollback(self) -> None:
        ...

    @abstractmethod
    async def insert_new(self, columns: list[list[Any]]) -> set[str]:
        """Insert the rows (distinct IVRS) whose IVRS is not stored yet; return the IVRS of the others."""
        ...

    @abstractmethod
    async def upsert(self, columns: list[list[Any]]) -> None:
        """Insert the rows, updating every column of those whose IVRS is stored already."""
        ...

    @abstractmethod
    async def stored(self, ivrs: list[str]) -> dict[str, bool]:
        """Which of these IVRS are stored: True when this import wrote them, False when they were there before."""
        ...


def _insert_statements(module: Any, values: Any) -> tuple[Any, Any]:
    """INSERT ... ON CONFLICT (ivrs) DO NOTHING, and the same with DO UPDATE of every column."""
    statement = values(module.insert(_TABLE))
    update = {name: statement.excluded[name] for name in (*ROW_COLUMNS, "updated_at") if name != "ivrs"}
    return (
        statement.on_conflict_do_nothing(index_elements=[_TABLE.c.ivrs]),
        statement.on_conflict_do_update(index_elements=[_TABLE.c.ivrs], set_=update),
    )


class SqliteWriter(BatchWriter):
    """executemany on the aiosqlite connection; each transaction takes the write lock up front.

    SQLite cannot disable a trigger, so a bulk load drops the cell-count triggers and creates
    them again from their definitions in storage/models/consumers.py.
    """

    async def _has_table(self, name: str) -> bool:
        return bool(await self._fetch("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name))

    async def _suspend_cell_triggers(self) -> None:
        for name in _trigger_names(SQLITE_CELL_TRIGGERS):
            await self._execute(f"DROP TRIGGER IF EXISTS {name}")

    async def _missing_triggers(self) -> list[str]:
        present = {name for (name,) in await self._fetch("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return [sql for sql, name in zip(SQLITE_CELL_TRIGGERS, _trigger_names(SQLITE_CELL_TRIGGERS), strict=True)
                if name not in present]  # fmt: skip

    async def _cell_triggers_off(self) -> bool:
        return bool(await self._missing_triggers())

    async def _resume_cell_triggers(self) -> None:
        for sql in await self._missing_triggers():
            await self._execute(sql)

    def __init__(self, driver: Any, dialect: Dialect, stamp_param: object) -> None:
        super().__init__(driver, dialect, stamp_param)
        self._saved_pragmas: dict[str, Any] = {}  # put back by close

    async def _get_ready(self) -> None:
        self._saved_pragmas = {name: (await self._fetch(f"PRAGMA {name}"))[0][0] for name in SQLITE_IMPORT_PRAGMAS}
        for name, value in SQLITE_IMPORT_PRAGMAS.items():
            await self._execute(f"PRAGMA {name} = {int(value)}")
        # One statement inserts ROWS_PER_STATEMENT rows (a multi-row VALUES list): half the cost
        # per row of one-row statements. Every parameter is bound per row, so the stamp (digits
        # and separators only) is written into the SQL.
        stamp = literal_column(f"'{self.stamp_param}'")
        self._sql_for: dict[tuple[str, int], str] = {}
        for size in (1, ROWS_PER_STATEMENT):
            values = [
                {**{name: bindparam(f"{name}_{i}") for name in ROW_COLUMNS}, "updated_at": stamp} for i in range(size)
            ]
            nothing, update = _insert_statements(sqlite, lambda insert, values=values: insert.values(values))
            compiled = nothing.compile(dialect=self.dialect)
            expected = tuple(f"{name}_{i}" for i in range(size) for name in ROW_COLUMNS)
            assert tuple(compiled.positiontup or ()) == expected, "parameters must follow ROW_COLUMNS, row by row"
            self._sql_for["nothing", size], self._sql_for["update", size] = str(compiled), self._sql(update)

    async def close(self) -> None:
        for name, value in self._saved_pragmas.items():
            await self._execute(f"PRAGMA {name} = {int(value)}")

    async def _fetch(self, sql: str, *params: Any) -> list[tuple]:
        async with self.driver.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _execute(self, sql: str, *params: Any) -> None:
        await (await self.driver.execute(sql, params)).close()

    async def begin(self) -> None:
        await self._execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self._execute("COMMIT")

    async def rollback(self) -> None:
        if self.driver.in_transaction:
            await self._execute("ROLLBACK")

    async def _write(self, conflict: str, columns: list[list[Any]]) -> int:
        """Run the statement over all rows, ROWS_PER_STATEMENT at a time; return the rows changed."""
        width, per = len(ROW_COLUMNS), ROWS_PER_STATEMENT
        values = list(chain.from_iterable(zip(*columns, strict=True)))  # row after row
        rows = len(values) // width
        whole = (rows - rows % per) * width
        step = per * width
        changed = 0
        if whole:
            cursor = await self.driver.executemany(
                self._sql_for[conflict, per], [values[i : i + step] for i in range(0, whole, step)]
            )
            changed += cursor.rowcount
            await cursor.close()
        if whole < len(values):
            cursor = await self.driver.executemany(
                self._sql_for[conflict, 1], [values[i : i + width] for i in range(whole, len(values), width)]
            )
            changed += cursor.rowcount
            await cursor.close()
        return changed

    async def insert_new(self, columns: list[list[Any]]) -> set[str]:
        before = (await self._fetch("SELECT coalesce(max(id), 0) FROM consumers"))[0][0]
        if await self._write("nothing", columns) == len(columns[0]):
            return set()
        sql = "SELECT ivrs FROM consumers WHERE id <= ? AND ivrs IN (SELECT value FROM json_each(?))"
        return {key for (key,) in await self._fetch(sql, before, json.dumps(columns[0]))}

    async def upsert(self, columns: list[list[Any]]) -> None:
        await self._write("update", columns)

    async def stored(self, ivrs: list[str]) -> dict[str, bool]:
        sql = "SELECT ivrs, updated_at = ? FROM consumers WHERE ivrs IN (SELECT value FROM json_each(?))"
        return {key: bool(mine) for key, mine in await self._fetch(sql, self.stamp_param, json.dumps(ivrs))}


def _trigger_names(statements: tuple[str, ...]) -> list[str]:
    return [re.search(r"CREATE TRIGGER (\w+)", sql).group(1) for sql in statements]  # type: ignore[union-attr]


@asynccontextmanager
async def open_writer(db: Database, stamp: datetime, *, wait: bool = True) -> AsyncIterator[BatchWriter]:
    """A batch writer on a connection of its own, for one import stamped with the given time (wait: see open)."""
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        dialect = conn.dialect
        stamp_param = _TABLE.c.updated_at.type.bind_processor(dialect)(stamp)
        if db.dialect == "sqlite":
            writer_class: type[BatchWriter] = SqliteWriter
        else:
            from storage.consumer_writer_postgres import PostgresWriter  # beside this module, which it builds on

            writer_class = PostgresWriter
        writer = writer_class(raw.driver_connection, dialect, stamp_param)
        await writer.open(wait=wait)
        try:
            yield writer
        finally:
            await writer.close()
