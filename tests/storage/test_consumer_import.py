"""Consumer register import: counting, every kind of bad row, duplicates, re-imports, bulk loads, memory."""

from __future__ import annotations

import gc
import math
import random
import tracemalloc
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from storage import geo
from storage.consumer_batches import spatial_columns
from storage.consumer_checks import _CANONICAL_IVRS
from storage.consumer_import import repair_register
from storage.consumer_rows import ImportFileError
from storage.consumer_writer_postgres import PostgresWriter
from storage.consumer_writers import SqliteWriter
from storage.db import Database
from storage.models import Consumer
from storage.models.consumers import ConsumerCell
from storage.repositories.consumers import ConsumerRepository, normalise_ivrs
from tests.conftest import drop_database, make_database
from tests.storage.register_files import HEADER, count, register_lines, run, stored, write


async def test_good_rows_are_stored_with_their_grid_cell_and_unit_vector(db: Database, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "register.csv",
        HEADER,
        'N3330008565,Ramesh Patel,"H.No 12, Ward 5, Gorakhpur, Jabalpur",Jabalpur,LV-1,1.5,23.18,79.95',
        "S1234567890,Sita Verma,Makronia,Sagar,LV-2,5,,",
    )
    report = await run(db, csv_file)
    assert (report.imported, report.updated, report.skipped) == (2, 0, [])
    assert report.rows_read == 2

    ramesh = await stored(db, "N3330008565")
    assert ramesh is not None
    assert (ramesh.name, ramesh.address) == ("Ramesh Patel", "H.No 12, Ward 5, Gorakhpur, Jabalpur")
    assert (ramesh.district, ramesh.category, ramesh.sanctioned_load_kw) == ("Jabalpur", "LV-1", 1.5)
    assert (ramesh.latitude, ramesh.longitude) == (23.18, 79.95)
    assert ramesh.cell == geo.cell_of(23.18, 79.95)
    assert (ramesh.ux, ramesh.uy, ramesh.uz) == pytest.approx(geo.unit_vector(23.18, 79.95), abs=1e-15)
    # A consumer without a location is kept, just without spatial columns (never in a nearby search).
    sita = await stored(db, "S1234567890")
    assert sita is not None and sita.latitude is None and sita.cell is None and sita.ux is None


async def test_every_kind_of_bad_row_is_reported_with_its_line_and_reason(sqlite_db: Database, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "register.csv",
        HEADER,  # line 1
        'N0000000001,Good,"an address\nover two lines",Jabalpur,LV-1,1,23.18,79.95',  # lines 2-3
        ",No IVRS,x,Jabalpur,LV-1,1,23.1,79.9",  # 4
        "AB-1,Too short,x,Jabalpur,LV-1,1,23.1,79.9",  # 5
        "N0000000005,Text latitude,x,Jabalpur,LV-1,1,north,79.9",  # 6
        "N0000000006,Only latitude,x,Jabalpur,LV-1,1,23.1,",  # 7
        "N0000000007,Out of range,x,Jabalpur,LV-1,1,123.1,79.9",  # 8
        "N0000000008,Delhi,x,Delhi,LV-1,1,28.61,77.21",  # 9
        "N0000000009,Swapped,x,Jabalpur,LV-1,1,79.95,23.18",  # 10
        "N0000000010,Negative load,x,Jabalpur,LV-1,-2,23.1,79.9",  # 11
        "N0000000011,Absurd load,x,Jabalpur,LV-1,250000,23.1,79.9",  # 12
        "N0000000012,Word load,x,Jabalpur,LV-1,high,23.1,79.9",  # 13
        "n-000-000-0001,Same IVRS written differently,x,Jabalpur,LV-1,1,23.1,79.9",  # 14
        "",  # 15: blank lines are not rows
        "N0000000016,Also good,,Jabalpur,LV-1,2 kW,,",  # 16
    )
    report = await run(sqlite_db, csv_file)

    assert (report.imported, report.updated, report.rows_read) == (2, 0, 13)
    assert [(row.line, row.kind, row.ivrs) for row in report.skipped] == [
        (4, "missing IVRS", None),
        (5, "malformed IVRS", None),
        (6, "bad coordinates", "N0000000005"),
        (7, "bad coordinates", "N0000000006"),
        (8, "bad coordinates", "N0000000007"),
        (9, "outside the service area", "N0000000008"),
        (10, "outside the service area", "N0000000009"),
        (11, "bad load", "N0000000010"),
        (12, "bad load", "N0000000011"),
        (13, "bad load", "N0000000012"),
        (14, "duplicate IVRS", "N0000000001"),
    ]
    reasons = {row.line: row.reason for row in report.skipped}
    assert reasons[5] == "malformed IVRS: 'AB-1'"
    assert reasons[6] == "bad coordinates: latitude 'north' is not a number"
    assert reasons[7] == "bad coordinates: only the latitude is given"
    assert reasons[10].endswith("(latitude and longitude swapped?)")
    assert reasons[11] == "bad load: -2 kW is negative"
    assert reasons[14] == "duplicate IVRS: line 2 has it too (the first row is kept)"
    assert report.skipped_total == 11 and report.skipped_by_kind["bad load"] == 3
    assert (await stored(sqlite_db, "N0000000016")).sanctioned_load_kw == 2.0  # type: ignore[union-attr]


@pytest.mark.parametrize("batch_size", [5000, 2], ids=["same batch", "across batches"])
async def test_duplicate_ivrs_keeps_the_first_row(db: Database, tmp_path: Path, batch_size: int) -> None:
    csv_file = write(
        tmp_path / "register.csv",
        HEADER,
        "N0000000001,First,,Jabalpur,LV-1,1,23.1,79.9",
        "N0000000002,Other,,Jabalpur,LV-1,1,23.1,79.9",
        "N0000000003,Other,,Jabalpur,LV-1,1,23.1,79.9",
        "n 0000000001,Second,,Jabalpur,LV-2,9,23.2,79.8",
    )
    report = await run(db, csv_file, batch_size=batch_size)
    assert (report.imported, report.updated) == (3, 0)
    assert [(row.line, row.kind, row.ivrs) for row in report.skipped] == [(5, "duplicate IVRS", "N0000000001")]
    first = await stored(db, "N0000000001")
    assert first is not None and (first.name, first.category) == ("First", "LV-1")
    assert await count(db) == 3


async def test_ids_run_on_through_a_duplicate_and_the_next_consumer_added_gets_a_new_one(
    db: Database, tmp_path: Path
) -> None:
    lines = register_lines(9)
    lines.insert(5, lines[2].replace("Ramesh Patel 1", "Again"))  # the second batch meets a stored IVRS
    report = await run(db, write(tmp_path / "register.csv", *lines), batch_size=4)
    assert (report.imported, [row.line for row in report.skipped]) == (9, [6])
    async with db.transaction() as session:
        ids = list((await session.execute(text("SELECT id FROM consumers ORDER BY id"))).scalars())
        added = await ConsumerRepository(session).add(Consumer(ivrs="N9999999999", latitude=23.1, longitude=79.9))
    assert len(set(ids)) == 9 and added.id > max(ids)
    again = await run(db, write(tmp_path / "more.csv", *register_lines(3, start=100)))
    assert again.imported == 3 and await count(db) == 13


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("locked", [False, True], ids=["stamp by default", "table locked: the stamp with each row"])
async def test_postgresql_copy_takes_the_import_stamp_from_a_default_that_goes_away_again(
    db: Database, tmp_path: Path, locked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen: list[bool] = []
    set_default = PostgresWriter._set_stamp_default

    async def spy(writer: PostgresWriter) -> bool:
        chosen.append(await set_default(writer))
        return chosen[-1]

    monkeypatch.setattr(PostgresWriter, "_set_stamp_default", spy)
    reader = await db.engine.connect()
    try:
        if locked:  # a reader in the middle of a long transaction: the default cannot be set in time
            await reader.execute(text("LOCK TABLE consumers IN ACCESS SHARE MODE"))
        report = await run(db, write(tmp_path / "register.csv", *register_lines(30)))
    finally:
        await reader.close()
    assert report.imported == 30 and chosen == [not locked]
    column = (
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'consumers' AND column_name = 'updated_at'"
    )
    async with db.reader() as session:
        stamps = set((await session.execute(text("SELECT updated_at FROM consumers"))).scalars())
        assert (await session.execute(text(column))).scalar_one() is None
    assert len(stamps) == 1


async def test_importing_the_same_file_again_updates_every_row_and_adds_none(db: Database, tmp_path: Path) -> None:
    csv_file = write(tmp_path / "register.csv", *register_lines(30))
    first = await run(db, csv_file, batch_size=7)
    again = await run(db, csv_file, batch_size=7)
    assert (first.imported, first.updated) == (30, 0)
    assert (again.imported, again.updated, again.skipped_total) == (0, 30, 0)
    assert await count(db) == 30


async def test_a_changed_row_updates_its_fields_and_new_rows_are_counted_apart(db: Database, tmp_path: Path) -> None:
    await run(db, write(tmp_path / "v1.csv", HEADER, "N0000000001,Old Name,Old Address,Jabalpur,LV-1,1,23.1,79.9"))
    report = await run(
        db,
        write(
            tmp_path / "v2.csv",
            HEADER,
            "N0000000001,New Name,New Address,Katni,LV-2,3.5,23.83,80.39",
            "N0000000002,Someone New,,Katni,LV-1,1,23.83,80.4",
        ),
    )
    assert (report.imported, report.updated) == (1, 1)
    changed = await stored(db, "N0000000001")
    assert changed is not None
    assert (changed.name, changed.address) == ("New Name", "New Address")
    assert (changed.district, changed.category) == ("Katni", "LV-2")
    assert (changed.sanctioned_load_kw, changed.cell) == (3.5, geo.cell_of(23.83, 80.39))



async def test_all_skipped_rows_can_be_written_to_a_csv_file(sqlite_db: Database, tmp_path: Path) -> None:
    lines = [HEADER] + [f",Nobody {i},,Jabalpur,LV-1,1,23.1,79.9" for i in range(5)]
    report = await run(sqlite_db, write(tmp_path / "register.csv", *lines), skipped_csv=tmp_path / "skipped.csv")
    assert report.skipped_total == 5
    written = (tmp_path / "skipped.csv").read_text(encoding="utf-8").splitlines()
    assert written[0] == "file,line,ivrs,reason"
    assert written[1] == f"{tmp_path / 'register.csv'},2,,missing IVRS"
    assert len(written) == 6


async def test_several_files_are_one_import(sqlite_db: Database, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER, "N0000000001,In A,,Jabalpur,LV-1,1,23.1,79.9")
    b = write(tmp_path / "b.csv", HEADER, "N0000000002,In B,,Sagar,LV-1,1,23.8,78.7", "N0000000001,Again,,x,,,,")
    report = await run(sqlite_db, a, b)
    assert (report.imported, report.files) == (2, [str(a), str(b)])
    assert [(row.file, row.line, row.kind) for row in report.skipped] == [(str(b), 3, "duplicate IVRS")]


async def index_names(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'consumers'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'consumers' AND schemaname = current_schema()"
    async with db.reader() as session:
        return set((await session.execute(text(sql))).scalars())


async def test_bulk_load_builds_the_indexes_once_and_leaves_them_in_place(db: Database, tmp_path: Path) -> None:
    report = await run(db, write(tmp_path / "register.csv", *register_lines(50)), rebuild_indexes=True)
    assert report.indexes_rebuilt and report.imported == 50
    assert "ix_consumers_cell_vec" in await index_names(db)
    again = await run(db, write(tmp_path / "more.csv", *register_lines(5, start=50)), rebuild_indexes=True)
    assert not again.indexes_rebuilt  # the table is no longer empty


async def cell_counts(db: Database) -> tuple[dict[int, int], dict[int, int]]:
    """consumer_cells as stored, and as counted from the consumers themselves."""
    async with db.reader() as session:
        kept = dict((await session.execute(text("SELECT cell, n FROM consumer_cells WHERE n <> 0"))).all())
        counted = "SELECT cell, count(*) FROM consumers WHERE cell IS NOT NULL GROUP BY cell"
        return kept, dict((await session.execute(text(counted))).all())


async def test_cell_counts_stay_right_through_bulk_loads_and_updates(db: Database, tmp_path: Path) -> None:
    if db.dialect == "postgresql":
        key = "SELECT indexdef FROM pg_indexes WHERE indexname = 'pk_consumer_cells' AND schemaname = current_schema()"
        async with db.reader() as session:
            before = (await session.execute(text(key))).scalar_one()
    await run(db, write(tmp_path / "bulk.csv", *register_lines(300)), rebuild_indexes=True)
    kept, counted = await cell_counts(db)
    assert kept == counted and sum(kept.values()) == 300
    if db.dialect == "postgresql":  # rewritten by the bulk load: the same key as the migration made
        async with db.reader() as session:
            assert (await session.execute(text(key))).scalar_one() == before
    # The key was dropped and added by hand: the model still creates it with its table.
    assert "PRIMARY KEY (cell_row, cell)" in str(CreateTable(ConsumerCell.__table__).compile(dialect=sqlite.dialect()))
    moved = [HEADER] + [f"N{i:010d},Moved,,Sagar,LV-1,1,23.84,78.74" for i in range(20)]
    await run(db, write(tmp_path / "moved.csv", *moved, *register_lines(10, start=300)[1:]))
    kept, counted = await cell_counts(db)
    assert kept == counted and sum(kept.values()) == 310
    assert kept[geo.cell_of(23.84, 78.74)] == 20


@pytest.mark.parametrize("repaired_by", ["an import", "the bot's start-up"])
async def test_what_a_killed_bulk_load_left_is_repaired(db: Database, tmp_path: Path, repaired_by: str) -> None:
    await run(db, write(tmp_path / "first.csv", *register_lines(40)))
    sqlite = db.dialect == "sqlite"
    off = "DROP TRIGGER consumers_cells_insert" if sqlite else "ALTER TABLE consumers DISABLE TRIGGER USER"
    async with db.transaction() as session:  # as if a bulk load had been killed half way
        await session.execute(text(off))
        await session.execute(text("DROP INDEX ix_consumers_cell_vec"))
        await session.execute(text("INSERT INTO consumers (ivrs, cell, updated_at) VALUES ('X1', 7, '2026-01-01')"))
    if repaired_by == "the bot's start-up":
        assert await repair_register(db)
        kept, counted = await cell_counts(db)
        assert kept == counted and kept[7] == 1 and sum(kept.values()) == 41
        assert "ix_consumers_cell_vec" in await index_names(db)
    await run(db, write(tmp_path / "more.csv", *register_lines(5, start=40)))
    kept, counted = await cell_counts(db)
    assert kept == counted and kept[7] == 1 and sum(kept.values()) == 46
    assert "ix_consumers_cell_vec" in await index_names(db)
    await run(db, write(tmp_path / "last.csv", *register_lines(1, start=90)))  # the triggers count again
    kept, counted = await cell_counts(db)
    assert kept == counted and sum(kept.values()) == 47


async def stored_rows(db: Database) -> list[tuple]:
    columns = "ivrs, name, address, district, category, sanctioned_load_kw, latitude, longitude, cell, ux, uy, uz"
    async with db.reader() as session:
        return [tuple(row) for row in await session.execute(text(f"SELECT {columns} FROM consumers ORDER BY ivrs"))]


@pytest.mark.parametrize("bulk", [True, False], ids=["indexes rebuilt", "indexes kept"])
async def test_an_empty_table_takes_the_insert_path_with_the_same_result_as_the_upsert_path(
    db: Database, tmp_path: Path, bulk: bool
) -> None:
    lines = register_lines(40)
    lines += [
        "N0000000003,Again in another batch,,Jabalpur,LV-1,1,23.1,79.9",
        ",No IVRS,,Jabalpur,LV-1,1,23.1,79.9",
        "N0000000041,Bad load,,Jabalpur,LV-1,lots,23.1,79.9",
        "N0000000042,No location,,Sagar,LV-2,,,",
        "n 0000000042,Again in the same batch,,Sagar,LV-2,,,",
        "N0000000017,Again,,Sagar,LV-2,,,",
    ]
    csv_file = write(tmp_path / "register.csv", *lines)
    fresh = await run(db, csv_file, batch_size=4, rebuild_indexes=bulk)
    assert fresh.indexes_rebuilt == bulk
    fresh_rows = await stored_rows(db)

    other, _ = await make_database(db.dialect, tmp_path / "other")
    try:
        await run(other, write(tmp_path / "seed.csv", HEADER, "X0000000001,Already there,,Katni,LV-1,1,23.8,80.4"))
        upserted = await run(other, csv_file, batch_size=4, rebuild_indexes=bulk)
        assert not upserted.indexes_rebuilt
        assert [row for row in await stored_rows(other) if row[0] != "X0000000001"] == fresh_rows
    finally:
        await drop_database(other, _)
    assert (fresh.imported, fresh.updated, fresh.rows_read) == (upserted.imported, upserted.updated, upserted.rows_read)
    assert fresh.imported == 41 and fresh.updated == 0
    # (The reasons may differ: a PostgreSQL bulk load can name the line of the row it kept.)
    assert [(row.line, row.kind, row.ivrs) for row in fresh.skipped] == [
        (row.line, row.kind, row.ivrs) for row in upserted.skipped
    ]
    assert [(row.line, row.kind) for row in fresh.skipped] == [
        (42, "duplicate IVRS"),
        (43, "missing IVRS"),
        (44, "bad load"),
        (46, "duplicate IVRS"),
        (47, "duplicate IVRS"),
    ]
    kept, counted = await cell_counts(db)
    assert kept == counted and sum(kept.values()) == 40


async def test_a_worker_process_reads_large_files_with_the_same_result(sqlite_db: Database, tmp_path: Path) -> None:
    lines = [*register_lines(40), ",No IVRS,,Jabalpur,LV-1,1,23.1,79.9", "N0000000003,Dup,,x,,,,"]
    csv_file = write(tmp_path / "register.csv", *lines)
    report = await run(sqlite_db, csv_file, parallel=True, batch_size=16)
    assert (report.imported, report.rows_read) == (40, 42)
    assert [(row.line, row.kind) for row in report.skipped] == [(42, "missing IVRS"), (43, "duplicate IVRS")]
    with pytest.raises(ImportFileError, match="no IVRS column"):
        await run(sqlite_db, write(tmp_path / "bad.csv", "a,b", "1,2"), parallel=True)


async def test_a_failing_import_stops_its_reader_process(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def fail_on_second_batch(self: SqliteWriter, rows: list[tuple]) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        return await original(self, rows)

    original = SqliteWriter.insert_new
    monkeypatch.setattr(SqliteWriter, "insert_new", fail_on_second_batch)
    with pytest.raises(OSError, match="disk full"):
        await run(sqlite_db, write(tmp_path / "register.csv", *register_lines(2000)), parallel=True, batch_size=100)
    readers = [p for p in psutil.Process().children(recursive=True) if "worker_main" in " ".join(p.cmdline())]
    assert readers == []
    assert await count(sqlite_db) == 0  # the open transaction was rolled back


@pytest.mark.slow
async def test_memory_stays_flat_however_long_the_file(sqlite_db: Database, tmp_path: Path) -> None:
    async def peak_bytes(rows: int, start: int) -> int:
        csv_file = write(tmp_path / f"r{rows}.csv", *register_lines(rows, start=start))
        gc.collect()
        tracemalloc.start()
        try:
            report = await run(sqlite_db, csv_file, parallel=False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert report.imported == rows

    small = await peak_bytes(20_000, 0)
    large = await peak_bytes(100_000, 1_000_000)
    shown = f"20k rows: {small / 2**20:.1f} MiB, 100k rows: {large / 2**20:.1f} MiB"
    assert large < 50 * 2**20, shown
    assert large < small * 1.25 + 2**20, shown  # five times the rows, the same memory


def test_spatial_columns_equal_the_geo_module() -> None:
    rnd = random.Random(7)
    points = [(rnd.uniform(21, 25.5), rnd.uniform(77.9, 83)) for _ in range(2000)] + [(23.0, 80.0), (0.0, 0.0)]
    lats: list[float | None] = [p[0] for p in points] + [None]
    lons: list[float | None] = [p[1] for p in points] + [None]
    cells, ux, uy, uz = spatial_columns(lats, lons)
    assert cells[:-1] == [geo.cell_of(lat, lon) for lat, lon in points]
    for i, (lat, lon) in enumerate(points):
        expected = geo.unit_vector(lat, lon)
        assert all(math.isclose(a, b, abs_tol=1e-15) for a, b in zip((ux[i], uy[i], uz[i]), expected, strict=True))
    assert (cells[-1], ux[-1], uy[-1], uz[-1]) == (None, None, None, None)


@given(st.text(alphabet="ABCNXYZabcn0123456789 -./_", max_size=24))
def test_the_fast_ivrs_path_agrees_with_normalise_ivrs(raw: str) -> None:
    if _CANONICAL_IVRS(raw) and not raw.isalpha():
        assert normalise_ivrs(raw) == raw
