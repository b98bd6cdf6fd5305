"""Importing the consumer register: upsert by IVRS in batches, with a report of every row left out.

Rows are read by storage/consumer_rows.py, checked by storage/consumer_checks.py, gathered
into batches of a few thousand by storage/consumer_batches.py (in a worker process for large
files), and written through the raw database driver by storage/consumer_writers.py, so
memory stays flat however long the file is.

Counting: every row written by one import carries the same ``updated_at``, the moment the
import started. Before a batch is written one query asks which of its IVRS are stored
already, and whether with this import's stamp: absent means imported, another stamp means
updated, this stamp means an earlier row of this same import had that IVRS. Such a row is a
duplicate: the first row is kept, and the later one is skipped and reported. Into a table
that was empty when the import began that query is not needed (everything stored came from
this import), so a batch is inserted with ON CONFLICT DO NOTHING and only a batch that lost
rows is looked at again. A PostgreSQL bulk load checks the IVRS only at the end, and the rows
it then drops are reported by the file and line their ids came from (storage/consumer_origins.py).
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import ExitStack, aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm import tqdm

from bot.config import BoundingBox
from storage.consumer_batches import ParsedBatch, parsed_batches
from storage.consumer_origins import RowOrigins
from storage.consumer_rows import ImportFileError, SkippedRow, open_register
from storage.consumer_writers import BatchWriter, ImportRunning, open_writer
from storage.db import Database

if TYPE_CHECKING:
    from bot.service_area import ServiceArea

__all__ = ["ImportFileError", "ImportReport", "SkippedRow", "import_consumers", "import_records", "repair_register"]

log = logging.getLogger(__name__)
MAX_SKIPPED_KEPT = 100_000  # skipped rows kept in ImportReport.skipped; skipped_csv gets all of them
COMMIT_ROWS = 50_000  # rows per transaction: short enough that the bot's own writes never wait long
BULK_ROWS = 100_000  # an import this large into an empty table builds its secondary indexes last
BYTES_PER_ROW = 100  # about what one register row takes in a CSV file, to guess a file's rows


@dataclass
class ImportReport:
    """What an import did: rows imported (new IVRS), updated (known IVRS), and each row skipped."""

    imported: int = 0
    updated: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)  # in file order; at most MAX_SKIPPED_KEPT
    skipped_total: int = 0
    skipped_by_kind: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    indexes_rebuilt: bool = False

    @property
    def rows_per_second(self) -> float:
        """Rows read per second over the whole import."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def skip(self, row: SkippedRow) -> None:
        """Record one skipped row."""
        self.skipped_total += 1
        self.skipped_by_kind[row.kind] += 1
        if len(self.skipped) < MAX_SKIPPED_KEPT:
            self.skipped.append(row)


class _Progress:
    """One progress bar per file on stderr, fed by the batches as they are written."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.file = ""
        self.bar: tqdm | None = None

    def advance(self, batch: ParsedBatch) -> None:
        if not self.enabled:
            return
        if batch.file != self.file:
            self.close()
            self.file = batch.file
            self.bar = tqdm(
                total=batch.size or None,
                unit=batch.progress_unit,
                unit_scale=True,
                desc=Path(batch.file).name,
                file=sys.stderr,
            )
        assert self.bar is not None
        self.bar.update(batch.progress)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Importer:
    """Writes batches through a BatchWriter, sorting each row into imported, updated or duplicate."""

    def __init__(self, writer: BatchWriter, report: ImportReport, skipped_out: TextIO | None) -> None:
        self.writer = writer
        self.report = report
        self.skipped_csv = csv.writer(skipped_out) if skipped_out is not None else None
        if self.skipped_csv is not None:
            self.skipped_csv.writerow(["file", "line", "ivrs", "reason"])
        self.rows_in_transaction = 0
        self.origins = RowOrigins()  # of the rows written while the writer defers the IVRS key

    def skip(self, row: SkippedRow) -> None:
        self.report.skip(row)
        if self.skipped_csv is not None:
            self.skipped_csv.writerow([row.file, row.line, row.ivrs or "", row.reason])

    async def write(self, batch: ParsedBatch) -> None:
        self.report.rows_read += batch.rows_read
        self.report.notes.extend(batch.notes)
        for row in batch.skipped:
            self.skip(row)
        lines, columns = self._first_of_each_ivrs(batch)
        if not lines:
            return
        if self.rows_in_transaction == 0:
            await self.writer.begin()
        if self.writer.fresh:
            await self._insert_fresh(batch.file, lines, columns)
        else:
            await self._upsert(batch.file, lines, columns)
        self.rows_in_transaction += len(lines)
        if self.rows_in_transaction >= COMMIT_ROWS:
            await self.finish()

    async def finish(self) -> None:
        if self.rows_in_transaction:
            await self.writer.commit()
            self.rows_in_transaction = 0

    def _first_of_each_ivrs(self, batch: ParsedBatch) -> tuple[list[int], list[list[Any]]]:
        ivrs = batch.columns[0]
        if len(set(ivrs)) == len(ivrs):
            return batch.lines, batch.columns
        first_line: dict[str, int] = {}
        for line, key in zip(batch.lines, ivrs, strict=True):
            first_line.setdefault(key, line)
        kept: list[int] = []
        for index, (line, key) in enumerate(zip(batch.lines, ivrs, strict=True)):
            if first_line[key] == line:
                kept.append(index)
            else:
                self.skip(SkippedRow(line, _duplicate_reason(first_line[key]), key, batch.file))
        return [batch.lines[index] for index in kept], _take(batch.columns, kept)

    async def _insert_fresh(self, file: str, lines: list[int], columns: list[list[Any]]) -> None:
        stored_before = await self.writer.insert_new(columns)
        if self.writer.keys_deferred and self.writer.last_ids is not None:
            self.origins.add(self.writer.last_ids, file, lines)
        self.report.imported += len(lines) - len(stored_before)
        if stored_before:
            for line, key in zip(lines, columns[0], strict=True):
                if key in stored_before:
                    self.skip(SkippedRow(line, _duplicate_reason(None), key, file))

    async def _upsert(self, file: str, lines: list[int], columns: list[list[Any]]) -> None:
        stored = await self.writer.stored(columns[0])
        if stored:
            kept: list[int] = []
            for index, (line, key) in enumerate(zip(lines, columns[0], strict=True)):
                by_this_import = stored.get(key)
                if by_this_import:
                    self.skip(SkippedRow(line, _duplicate_reason(None), key, file))
                    continue
                kept.append(index)
                if by_this_import is None:
                    self.report.imported += 1
                else:
                    self.report.updated += 1
            if len(kept) < len(lines):
                columns = _take(columns, kept)
        else:
            self.report.imported += len(lines)
        if columns[0]:
            await self.writer.upsert(columns)

    def report_dropped_duplicates(self) -> None:
        """Report the rows the writer deleted at the end because an earlier row had their IVRS too."""
        unknown = 0
        for row_id, kept_id, ivrs in self.writer.dropped_duplicates:
            origin = self.origins.find(row_id)
            if origin is None:  # left by an earlier import that did not finish
                unknown += 1
                continue
            file, line = origin
            first_file, first_line = self.origins.find(kept_id) or (file, None)
            self.report.imported -= 1
            self.skip(SkippedRow(line, _duplicate_reason(first_line, first_file, file), ivrs, file))
        if unknown:
            self.report.notes.append(
                f"{unknown} consumers stored twice by an import that did not finish were deleted "
                "(the first of each IVRS is kept)"
            )


def _take(columns: list[list[Any]], indexes: list[int]) -> list[list[Any]]:
    """The rows at indexes, as columns."""
    return [[column[index] for index in indexes] for column in columns]


def _duplicate_reason(first_line: int | None, first_file: str = "", file: str = "") -> str:
    if first_line is None:
        where = "an earlier row of this import has"
    elif first_file != file:
        where = f"line {first_line} of {Path(first_file).name} has"
    else:
        where = f"line {first_line} has"
    return f"duplicate IVRS: {where} it too (the first row is kept)"


async def _as_async(batches: Iterable[ParsedBatch] | AsyncIterable[ParsedBatch]) -> AsyncIterator[ParsedBatch]:
    if isinstance(batches, AsyncIterable):
        try:
            async for batch in batches:
                yield batch
        finally:
            if hasattr(batches, "aclose"):
                await batches.aclose()  # stops a reader process at once when the import fails
    else:
        for batch in batches:
            yield batch


async def import_records(
    db: Database,
    batches: Iterable[ParsedBatch] | AsyncIterable[ParsedBatch],
    report: ImportReport,
    *,
    rebuild_indexes: bool | None = None,
    expected_rows: int = 0,
    skipped_out: TextIO | None = None,
    progress: bool = False,
) -> ImportReport:
    """Write parsed batches into the consumers table, counting into report (used for files and demo data).

    rebuild_indexes drops the secondary indexes while loading into an empty table and builds
    them once at the end (default: when at least BULK_ROWS rows are expected).
    """
    started = time.perf_counter()
    bar = _Progress(progress)
    async with open_writer(db, datetime.now(UTC)) as writer:
        if rebuild_indexes is None:
            rebuild_indexes = expected_rows >= BULK_ROWS
        report.indexes_rebuilt = rebuild_indexes and writer.fresh
        await writer.prepare(bulk=report.indexes_rebuilt)
        importer = _Importer(writer, report, skipped_out)
        try:
            async with aclosing(_as_async(batches)) as stream:
                async for batch in stream:
                    await importer.write(batch)
                    bar.advance(batch)
            await importer.finish()
        except BaseException:
            await writer.rollback()
            raise
        finally:
            bar.close()
            await writer.restore()
        importer.report_dropped_duplicates()
    report.seconds += time.perf_counter() - started
    return report


async def import_consumers(
    db: Database,
    paths: list[Path],
    *,
    service_area: BoundingBox | ServiceArea,
    progress: bool = False,
    batch_size: int = 5000,
    skipped_csv: Path | None = None,
    rebuild_indexes: bool | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import register files (CSV or .xlsx) into the consumers table; raise ImportFileError if one cannot be read.

    Every file is opened and its header checked before anything is written. parallel reads
    the files in a worker process (default: for large files); rebuild_indexes: see import_records.
    service_area is the bounding box, or a ServiceArea whose district boundaries (when it has them)
    decide which located rows are inside.
    """
    report = ImportReport(files=[str(p) for p in paths])
    started = time.perf_counter()
    with ExitStack() as stack:
        registers = []
        for path in paths:
            register = open_register(Path(path))
            stack.callback(register.close)
            registers.append(register)
        out = stack.enter_context(skipped_csv.open("w", newline="", encoding="utf-8")) if skipped_csv else None
        expected = sum(r.size_bytes for r in registers) // BYTES_PER_ROW
        batches = parsed_batches(registers, service_area, batch_size, parallel=parallel)
        await import_records(
            db,
            batches,
            report,
            rebuild_indexes=rebuild_indexes,
            expected_rows=expected,
            skipped_out=out,
            progress=progress,
        )
    order = {name: index for index, name in enumerate(report.files)}
    report.skipped.sort(key=lambda row: (order.get(row.file, 0), row.line))
    report.seconds = time.perf_counter() - started
    return report


async def repair_register(db: Database) -> bool:
    """Put back what a killed bulk load left out (keys, indexes, cell counts); False if an import is running now.

    Run at start-up: until then the bot would find consumers by a full scan. A running import
    puts everything back itself when it ends.
    """
    try:
        async with open_writer(db, datetime.now(UTC), wait=False) as writer:
            await writer.repair()
    except ImportRunning:
        return False
    if writer.dropped_duplicates:
        log.warning(
            "Deleted %d consumers stored twice by an import that did not finish (the first of each IVRS is kept)",
            len(writer.dropped_duplicates),
        )
    return True
