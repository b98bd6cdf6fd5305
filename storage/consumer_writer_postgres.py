"""The PostgreSQL batch writer of the register import: asyncpg's binary COPY, and a staging table for upserts.

New rows are copied straight into the consumers table; rows that may already be stored go
through a temporary staging table and INSERT ... SELECT ... ON CONFLICT. What both backends
share is in storage/consumer_writers.py.
"""

from __future__ import annotations

import logging
from itertools import repeat
from typing import Any

from asyncpg.exceptions import LockNotAvailableError, UniqueViolationError
from sqlalchemy import Column, MetaData, Table, UniqueConstraint, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, Constraint, CreateTable, DropConstraint

from storage.consumer_batches import ROW_COLUMNS
from storage.consumer_writers import _TABLE, CELL_RECOUNT, BatchWriter, ImportRunning, _insert_statements
from storage.models import Base
from storage.models.consumers import ConsumerCell

log = logging.getLogger(__name__)
# One import at a time per consumers table: a second one would repair, mid-load, the keys and
# indexes a bulk load has dropped. The lock's key is the table's oid (no other advisory lock is used).
_IMPORT_LOCK = "'consumers'::regclass::oid::bigint"
_ID_SEQUENCE = "consumers_id_seq"  # PostgreSQL's name for the sequence of the serial consumers.id
ID_BLOCK = 100_000  # ids a PostgreSQL import takes off the sequence at a time
_CELLS_KEY = ConsumerCell.__table__.primary_key
# What a bulk load into an empty table drops and adds back at the end, in the order they are
# added: the primary key, the IVRS key, and the foreign keys that point at consumers (they need
# the primary key). Without them COPY costs the server a third of what it did; building the two
# keys afterwards takes about 4 s at 5 million rows, less than they cost row by row.
(_IVRS_KEY,) = (c for c in _TABLE.constraints if isinstance(c, UniqueConstraint))
_REFERENCES = tuple(
    key for table in Base.metadata.sorted_tables for key in table.foreign_key_constraints
    if key.referred_table is _TABLE
)  # fmt: skip
_KEYS: tuple[Constraint, ...] = (_TABLE.primary_key, _IVRS_KEY, *_REFERENCES)
# The rows whose IVRS a row with a smaller id (an earlier row of the load) has too: (id, kept id, IVRS).
_LATER_DUPLICATES = """
SELECT id, kept, ivrs FROM (
    SELECT id, ivrs, min(id) OVER (PARTITION BY ivrs) AS kept FROM consumers
    WHERE ivrs IN (SELECT ivrs FROM consumers GROUP BY ivrs HAVING count(*) > 1)
) AS twice WHERE id <> kept ORDER BY id
"""
_STAGE = Table(
    "vmitra_consumer_stage",
    MetaData(),
    *(Column(name, _TABLE.c[name].type) for name in ROW_COLUMNS),
    schema="pg_temp",
    prefixes=["TEMPORARY"],
)


class PostgresWriter(BatchWriter):
    """Binary COPY per batch; each transaction commits without waiting for the disk (see begin)."""

    def __init__(self, driver: Any, dialect: Dialect, stamp_param: object) -> None:
        super().__init__(driver, dialect, stamp_param)
        self._stamp_by_default = False  # see _set_stamp_default; undone by close

    async def open(self, *, wait: bool = True) -> None:
        if not (await self._fetch(f"SELECT pg_try_advisory_lock({_IMPORT_LOCK})"))[0][0]:
            if not wait:
                raise ImportRunning("another import of the consumer register is running")
            log.warning("Another import of the consumer register is running; this one starts when it ends.")
            await self._execute(f"SELECT pg_advisory_lock({_IMPORT_LOCK})")
        try:
            await super().open(wait=wait)
        except BaseException:
            await self._execute(f"SELECT pg_advisory_unlock({_IMPORT_LOCK})")
            raise

    async def _get_ready(self) -> None:
        await self._execute(self._sql(CreateTable(_STAGE, if_not_exists=True)))
        stamp = bindparam("stamp", type_=_TABLE.c.updated_at.type)
        nothing, update = _insert_statements(
            postgresql, lambda insert: insert.from_select((*ROW_COLUMNS, "updated_at"), select(*_STAGE.c, stamp))
        )
        self._insert_sql, self._upsert_sql = self._sql(nothing), self._sql(update)
        self._transaction: Any = None
        self._next_id: int | None = None  # the id of the next row COPY writes (see insert_new)
        self._reserved_to = 0  # the last id taken off the sequence for COPY
        # Only new rows are copied straight into the table; an upsert passes the stamp once per batch.
        self._stamp_by_default = self.fresh and await self._set_stamp_default()

    async def _set_stamp_default(self) -> bool:
        """Make this import's stamp the default of updated_at, so that COPY need not send it; False if locked out.

        asyncpg's encoding of a timestamp costs more than a microsecond a row, half its work per
        row. Changing the default takes the table's lock for a moment: a reader holding it longer
        than a second leaves the stamp to be sent with every row instead.
        """
        literal = self.stamp_param.isoformat()
        assert set(literal) <= set("0123456789-:.+T "), literal  # written into the SQL
        try:
            async with self.driver.transaction():
                await self._execute("SET LOCAL lock_timeout = '1s'")
                await self._execute(f"ALTER TABLE consumers ALTER COLUMN updated_at SET DEFAULT '{literal}'")
        except LockNotAvailableError:
            return False
        return True

    async def close(self) -> None:
        try:
            await self._execute("DROP TABLE IF EXISTS pg_temp.vmitra_consumer_stage")
            if self._stamp_by_default:
                await self._execute("ALTER TABLE consumers ALTER COLUMN updated_at DROP DEFAULT")
        finally:
            await self._execute(f"SELECT pg_advisory_unlock({_IMPORT_LOCK})")

    async def _has_table(self, name: str) -> bool:
        return bool((await self._fetch("SELECT to_regclass($1) IS NOT NULL", name))[0][0])

    async def _suspend_cell_triggers(self) -> None:
        await self._execute("ALTER TABLE consumers DISABLE TRIGGER USER")

    async def _cell_triggers_off(self) -> bool:
        sql = "SELECT 1 FROM pg_trigger WHERE tgrelid = 'consumers'::regclass AND NOT tgisinternal AND tgenabled = 'D'"
        return bool(await self._fetch(sql))

    async def _resume_cell_triggers(self) -> None:
        await self._execute("ALTER TABLE consumers ENABLE TRIGGER USER")

    async def prepare(self, *, bulk: bool) -> None:
        """As BatchWriter.prepare; a bulk load also drops the keys (_KEYS), and its IVRS are checked in restore."""
        if bulk:
            for key in reversed(_KEYS):
                await self._execute(self._sql(DropConstraint(key, if_exists=True)))
            self.keys_deferred = True
        await super().prepare(bulk=bulk)

    async def restore(self) -> None:
        missing = await self._missing_keys()
        rebuilding = self._indexes_dropped or bool(missing)
        if rebuilding:
            await self._execute("SET maintenance_work_mem = '256MB'")
        try:
            await self._add_keys(missing)
            await super().restore()
        finally:
            if rebuilding:
                await self._execute("RESET maintenance_work_mem")
        self.keys_deferred = False
        if rebuilding and self._has_cells:
            await self._execute("VACUUM (ANALYZE) consumer_cells")  # recounted: see _indexes_built

    async def _missing_keys(self) -> set[str]:
        sql = "SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
        present = {name for (name,) in await self._fetch(sql)}
        return {str(key.name) for key in _KEYS} - present

    async def _add_keys(self, missing: set[str]) -> None:
        """Add the keys a bulk load dropped (or a killed one left out), deleting later rows of an IVRS stored twice."""
        if missing and not self.keys_deferred:
            log.warning("Adding back %s, left out by a bulk load of the consumer register", ", ".join(sorted(missing)))
        for key in _KEYS:
            if key.name not in missing:
                continue
            # (isolate_from_table=False: the model must still create the key with its table.)
            add = self._sql(AddConstraint(key, isolate_from_table=False))
            try:
                await self._execute(add)
            except UniqueViolationError:
                if key is not _IVRS_KEY:
                    raise
                await self._drop_later_duplicates()
                await self._execute(add)

    async def _drop_later_duplicates(self) -> None:
        """Keep the first row (the smallest id) of each IVRS stored twice; point references to the others at it."""
        async with self.driver.transaction():
            await self._execute("SET LOCAL work_mem = '64MB'")
            rows = await self._fetch(_LATER_DUPLICATES)
            dropped, kept = [row[0] for row in rows], [row[1] for row in rows]
            for key in _REFERENCES:
                table, (column,) = key.table.name, [element.parent.name for element in key.elements]
                await self._execute(
                    f"UPDATE {table} SET {column} = twice.kept FROM unnest($1::int[], $2::int[]) AS twice (id, kept) "
                    f"WHERE {table}.{column} = twice.id",
                    dropped,
                    kept,
                )
            await self._execute("DELETE FROM consumers WHERE id = ANY($1::int[])", dropped)
        self.dropped_duplicates.extend(rows)

    async def _indexes_built(self, rebuilt: bool) -> None:
        if rebuilt:
            # After a bulk load: the visibility map lets the nearby search (and the recount) read
            # the covering index alone, and the planner gets the new table's statistics.
            await self._execute("VACUUM (ANALYZE) consumers")

    async def _recount(self, *, bulk: bool) -> None:
        # Count along ix_consumers_cell_vec (an index-only scan), not with a hash table over
        # every consumer and a sort of the cells (several times slower at millions of rows).
        await self._execute("SET LOCAL enable_hashagg TO off")
        await self._execute("SET LOCAL enable_sort TO off")
        if not bulk:
            await super()._recount(bulk=bulk)
            return
        # After a bulk load (into a table that was empty) the counts are written afresh, as a
        # table and then its key, which takes half as long as keeping the key row by row. Until
        # this transaction commits, the nearby search waits for consumer_cells.
        await self._execute("TRUNCATE consumer_cells")
        await self._execute(self._sql(DropConstraint(_CELLS_KEY)))
        await self._execute(CELL_RECOUNT[1])
        await self._execute(self._sql(AddConstraint(_CELLS_KEY, isolate_from_table=False)))  # (see _add_keys)

    async def _fetch(self, sql: str, *params: Any) -> list[tuple]:
        return [tuple(record) for record in await self.driver.fetch(sql, *params)]

    async def _execute(self, sql: str, *params: Any) -> None:
        await self.driver.execute(sql, *params)

    async def begin(self) -> None:
        self._transaction = self.driver.transaction()
        await self._transaction.start()
        # Losing the last commits in a server crash is harmless here: the import can simply be re-run.
        await self._execute("SET LOCAL synchronous_commit TO OFF")

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()

    async def _stage(self, columns: list[list[Any]]) -> None:
        await self._execute("TRUNCATE pg_temp.vmitra_consumer_stage")
        await self.driver.copy_records_to_table(
            "vmitra_consumer_stage", schema_name="pg_temp", records=zip(*columns, strict=True), columns=ROW_COLUMNS
        )

    async def insert_new(self, columns: list[list[Any]]) -> set[str]:
        # COPY straight into the table is twice as fast as going through the staging table; a
        # duplicate IVRS makes it fail, and then (rarely) the batch takes the staging path.
        # The ids come from here, from blocks taken off the sequence (which always stays ahead of
        # them): the sequence's default would cost the server a third of its time per row.
        if self._next_id is None:
            self._next_id = self._reserved_to = (await self._fetch(f"SELECT nextval('{_ID_SEQUENCE}')"))[0][0]
        first, count = self._next_id, len(columns[0])
        if first + count - 1 > self._reserved_to:
            self._reserved_to = first + count - 1 + ID_BLOCK
            await self._execute(f"SELECT setval('{_ID_SEQUENCE}', $1)", self._reserved_to)
        try:
            async with self.driver.transaction():  # a savepoint inside the import's transaction
                stamp = () if self._stamp_by_default else (repeat(self.stamp_param),)
                await self.driver.copy_records_to_table(
                    "consumers",
                    records=zip(range(first, first + count), *columns, *stamp, strict=False),  # repeat() is endless
                    columns=("id", *ROW_COLUMNS) if self._stamp_by_default else ("id", *ROW_COLUMNS, "updated_at"),
                )
            self._next_id = first + count
            self.last_ids = range(first, first + count)
            return set()
        except UniqueViolationError:
            self._next_id = self.last_ids = None  # the staging path takes its ids from the sequence
            await self._stage(columns)
            inserted = await self._fetch(self._insert_sql + " RETURNING ivrs", self.stamp_param)
            return set(columns[0]) - {key for (key,) in inserted}

    async def upsert(self, columns: list[list[Any]]) -> None:
        await self._stage(columns)
        await self._execute(self._upsert_sql, self.stamp_param)

    async def stored(self, ivrs: list[str]) -> dict[str, bool]:
        sql = "SELECT ivrs, updated_at = $1 FROM consumers WHERE ivrs = ANY($2::varchar[])"
        return {key: bool(mine) for key, mine in await self._fetch(sql, self.stamp_param, ivrs)}
