"""PostgreSQL bulk loads: the keys are dropped for the load and added back at the end, reporting late duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.consumer_import import repair_register
from storage.consumer_writer_postgres import _IMPORT_LOCK, _KEYS, PostgresWriter
from storage.db import Database
from storage.models import Complaint, Consumer
from tests.storage.register_files import HEADER, count, register_lines, run, stored, write

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

KEY_NAMES = {"pk_consumers", "uq_consumers_ivrs", "fk_complaints_consumer_id_consumers"}


async def constraint_names(db: Database) -> set[str]:
    sql = "SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
    async with db.reader() as session:
        return set((await session.execute(text(sql))).scalars()) & KEY_NAMES


async def key_definitions(db: Database) -> dict[str, str]:
    sql = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace AND conname = ANY(:names)"
    )
    async with db.reader() as session:
        return dict((await session.execute(text(sql), {"names": sorted(KEY_NAMES)})).all())


async def test_the_keys_dropped_are_the_models_primary_ivrs_and_referencing_keys(db: Database) -> None:
    assert {key.name for key in _KEYS} == KEY_NAMES == await constraint_names(db)


async def test_a_bulk_load_copies_without_keys_and_names_the_line_each_late_duplicate_repeats(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await key_definitions(db)
    keys_while_loading: list[set[str]] = []
    insert_new = PostgresWriter.insert_new

    async def spy(writer: PostgresWriter, columns: list[list]) -> set[str]:
        keys_while_loading.append(await constraint_names(db))
        return await insert_new(writer, columns)

    monkeypatch.setattr(PostgresWriter, "insert_new", spy)
    first = write(
        tmp_path / "first.csv",
        *register_lines(10),
        "N0000000002,Again in a later batch,,Jabalpur,LV-1,1,23.1,79.9",  # line 12 repeats line 4
        "X0000000001,Only in this file,,Sagar,LV-2,2,23.8,78.7",  # line 13
    )
    second = write(
        tmp_path / "second.csv",
        HEADER,
        "X0000000001,In the second file too,,Sagar,LV-2,2,23.8,78.7",
        "X0000000002,New,,Sagar,LV-2,2,23.8,78.7",
        "N0000000009,And again,,Sagar,LV-2,2,23.8,78.7",
    )
    report = await run(db, first, second, batch_size=3, rebuild_indexes=True)

    assert report.indexes_rebuilt and keys_while_loading and all(keys == set() for keys in keys_while_loading)
    assert (report.imported, report.updated, report.rows_read) == (12, 0, 15)
    assert [(Path(row.file).name, row.line, row.ivrs, row.reason) for row in report.skipped] == [
        ("first.csv", 12, "N0000000002", "duplicate IVRS: line 4 has it too (the first row is kept)"),
        ("second.csv", 2, "X0000000001", "duplicate IVRS: line 13 of first.csv has it too (the first row is kept)"),
        ("second.csv", 4, "N0000000009", "duplicate IVRS: line 11 of first.csv has it too (the first row is kept)"),
    ]
    assert await count(db) == 12
    kept = await stored(db, "X0000000001")
    assert kept is not None and kept.name == "Only in this file"
    assert await key_definitions(db) == before  # the same keys as the migrations made
    async with db.reader() as session:
        ids = list((await session.execute(text("SELECT id FROM consumers ORDER BY id"))).scalars())
    assert len(set(ids)) == 12
    with pytest.raises(IntegrityError):  # the IVRS key is enforced again
        async with db.transaction() as session:
            session.add(Consumer(ivrs="X0000000002"))


async def test_a_bulk_load_that_fails_half_way_still_puts_the_keys_back(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    insert_new = PostgresWriter.insert_new

    async def fail_on_third_batch(writer: PostgresWriter, columns: list[list]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        return await insert_new(writer, columns)

    monkeypatch.setattr(PostgresWriter, "insert_new", fail_on_third_batch)
    with pytest.raises(OSError, match="disk full"):
        await run(db, write(tmp_path / "register.csv", *register_lines(30)), batch_size=5, rebuild_indexes=True)
    assert await constraint_names(db) == KEY_NAMES
    assert await count(db) == 0  # the load's one transaction was rolled back


async def kill_a_bulk_load_after_it_stored_an_ivrs_twice(db: Database, tmp_path: Path) -> None:
    """Five consumers, then the keys dropped and N0000000001 stored again (id 900), with a complaint about that row."""
    await run(db, write(tmp_path / "first.csv", *register_lines(5)))
    async with db.transaction() as session:
        for name, table in (("fk_complaints_consumer_id_consumers", "complaints"), ("uq_consumers_ivrs", "consumers")):
            await session.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        await session.execute(text("ALTER TABLE consumers DROP CONSTRAINT pk_consumers"))
        await session.execute(
            text("INSERT INTO consumers (id, ivrs, name, updated_at) VALUES (900, 'N0000000001', 'Twice', now())")
        )
        session.add(Complaint(category="hooking", consumer_id=900, channel="web"))
    assert await constraint_names(db) == set()


async def test_an_import_puts_back_the_keys_a_killed_bulk_load_left_out_keeping_the_first_of_each_ivrs(
    db: Database, tmp_path: Path
) -> None:
    await kill_a_bulk_load_after_it_stored_an_ivrs_twice(db, tmp_path)
    report = await run(db, write(tmp_path / "more.csv", *register_lines(2, start=40)))
    assert (report.imported, report.skipped_total) == (2, 0)
    assert report.notes == [
        "1 consumers stored twice by an import that did not finish were deleted (the first of each IVRS is kept)"
    ]
    assert await constraint_names(db) == KEY_NAMES
    first = await stored(db, "N0000000001")
    assert first is not None and first.id != 900 and first.name == "Ramesh Patel 1"
    async with db.reader() as session:
        pointed_at = (await session.execute(text("SELECT consumer_id FROM complaints"))).scalar_one()
    assert pointed_at == first.id  # the complaint follows its consumer's IVRS to the row kept
    assert await count(db) == 7


async def test_a_second_import_waits_until_the_first_one_has_put_its_keys_back(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started, go_on = asyncio.Event(), asyncio.Event()
    insert_new = PostgresWriter.insert_new

    async def held_up_once(writer: PostgresWriter, columns: list[list]) -> set[str]:
        if not started.is_set():
            started.set()
            await go_on.wait()
        return await insert_new(writer, columns)

    monkeypatch.setattr(PostgresWriter, "insert_new", held_up_once)
    bulk = asyncio.create_task(
        run(db, write(tmp_path / "bulk.csv", *register_lines(40)), batch_size=5, rebuild_indexes=True)
    )
    await started.wait()
    second = asyncio.create_task(run(db, write(tmp_path / "more.csv", *register_lines(3, start=30))))
    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    for _ in range(100):
        async with db.reader() as session:
            if (await session.execute(text(waiting))).scalar_one():
                break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the second import never waited for the lock")
    assert not second.done() and await constraint_names(db) == set()  # the bulk load's keys are still off
    assert "Another import of the consumer register is running" in caplog.text
    go_on.set()
    first_report, second_report = await bulk, await second
    assert first_report.indexes_rebuilt and first_report.imported == 40
    assert (second_report.imported, second_report.updated) == (0, 3)  # rows 30 to 32 were there by then
    assert await constraint_names(db) == KEY_NAMES and await count(db) == 40


async def test_the_bots_start_up_puts_back_the_keys_unless_an_import_is_running(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await kill_a_bulk_load_after_it_stored_an_ivrs_twice(db, tmp_path)
    async with db.engine.connect() as importing:  # another process's import holds the lock
        await importing.execute(text(f"SELECT pg_advisory_lock({_IMPORT_LOCK})"))
        assert not await repair_register(db)
        assert await constraint_names(db) == set() and await count(db) == 6
        await importing.execute(text(f"SELECT pg_advisory_unlock({_IMPORT_LOCK})"))
    assert await repair_register(db)
    assert await constraint_names(db) == KEY_NAMES and await count(db) == 5
    assert "Adding back fk_complaints_consumer_id_consumers, pk_consumers, uq_consumers_ivrs" in caplog.text
    assert "Deleted 1 consumers stored twice by an import that did not finish" in caplog.text
    first = await stored(db, "N0000000001")
    assert first is not None and first.name == "Ramesh Patel 1"
    async with db.reader() as session:
        assert (await session.execute(text("SELECT consumer_id FROM complaints"))).scalar_one() == first.id


async def test_the_bots_start_up_on_an_empty_register_only_checks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def set_default(writer: PostgresWriter) -> bool:
        calls.append("stamp default")
        return False

    monkeypatch.setattr(PostgresWriter, "_set_stamp_default", set_default)
    assert await repair_register(db)
    assert calls == [] and await constraint_names(db) == KEY_NAMES and await count(db) == 0
