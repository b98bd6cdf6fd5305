"""Register rows in batches: read, checked, and (just before writing) given their spatial columns.

Small files are read in the importing process. A large file is read by a worker process, so
that reading and checking (pure Python, one core) run beside the database writes (the other
core) instead of taking turns: threads cannot do this, because sqlite3 takes the GIL back
after every row it steps. The worker sends finished batches through a bounded queue, so
neither process holds more than a few batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage import geo
from storage.consumer_checks import Record, RowChecker
from storage.consumer_fast_csv import Columns
from storage.consumer_rows import ImportFileError, RegisterFile, SkippedRow, open_register
from storage.ivrs import normalise_ivrs

if TYPE_CHECKING:
    from bot.config import BoundingBox
    from bot.service_area import ServiceArea

_ROOT = Path(__file__).resolve().parent.parent  # the project folder, which the worker imports from
PARALLEL_MIN_BYTES = 16_000_000  # below this (about 150,000 rows) a worker process costs more than it saves
QUEUE_BATCHES = 4  # batches the worker may read ahead of the database
PIPE_BYTES = 1 << 20  # the pipe from the worker: a batch of 5,000 rows pickles to about 750 KB
_HEADER = struct.Struct("<?Q")  # before each pickle the reader process writes: the last one?, its length
CHECK_ROWS = 500  # rows checked at a time (see read_batches)


# The columns of a batch, in this order: the checked Record's, then the spatial columns.
ROW_COLUMNS = (
    "ivrs", "name", "address", "district", "category", "sanctioned_load_kw",
    "latitude", "longitude", "cell", "ux", "uy", "uz",
)  # fmt: skip


def _no_columns() -> list[list[Any]]:
    return [[] for _ in ROW_COLUMNS]


@dataclass
class ParsedBatch:
    """Rows of one file ready to write, the rows skipped among them, and how far the file has been read.

    The rows travel as columns (one list per name in ROW_COLUMNS, spatial columns included):
    they are checked a column at a time, pickle faster that way, and zip back into rows in C.
    """

    file: str
    lines: list[int] = field(default_factory=list)  # the line of each row, in file order
    columns: list[list[Any]] = field(default_factory=_no_columns)
    skipped: list[SkippedRow] = field(default_factory=list)
    rows_read: int = 0
    progress: int = 0  # bytes (CSV) or rows (Excel) read since the previous batch
    progress_unit: str = "B"
    size: int = 0  # the whole file, in progress units (0 when unknown)
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[tuple[Any, ...]]:
        """The rows as tuples in ROW_COLUMNS order."""
        return list(zip(*self.columns, strict=True))


def spatial_columns(lats: list[float | None], lons: list[float | None]) -> tuple[list, list, list, list]:
    """cell, ux, uy, uz for each point, as storage.geo computes them (None where there is no point).

    Vectorised over the batch; tests hold it equal to geo.cell_of and geo.unit_vector.
    """
    import numpy as np  # here: only the import of a file needs it

    missing = None in lats or None in lons
    lat = np.array(lats, dtype=np.float64)  # None is NaN
    lon = np.array(lons, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        row = np.floor((lat + 90.0) / geo.CELL_DEG)
        col = np.floor((lon + 180.0) / geo.CELL_DEG)
        ok = ~(np.isnan(row) | np.isnan(col))
        if missing:
            row, col = np.where(ok, row, 0), np.where(ok, col, 0)
        cell = row.astype(np.int64) * geo.CELL_ROW_STRIDE + col.astype(np.int64)
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    columns = [cell.tolist(), (cos_phi * np.cos(lam)).tolist(), (cos_phi * np.sin(lam)).tolist(), np.sin(phi).tolist()]
    if missing:
        for index in np.flatnonzero(~ok).tolist():
            for values in columns:
                values[index] = None
    return columns[0], columns[1], columns[2], columns[3]


def columns_of(records: list[Record]) -> list[list[Any]]:
    """Checked records as the columns of a ParsedBatch, spatial columns added."""
    if not records:
        return _no_columns()
    columns = [list(column) for column in zip(*records, strict=True)]
    return columns + list(spatial_columns(columns[6], columns[7]))


def _area_parts(area: BoundingBox | ServiceArea) -> tuple[BoundingBox, ServiceArea | None]:
    """The box every row is checked against, and the district boundaries when they decide.

    With boundaries the box holds every district of the file, so that a row in one the company does not
    serve reaches the polygons and is skipped with that district's name.
    """
    if not hasattr(area, "has_boundaries"):  # a bounding box
        return area, None
    return (area.outer_box, area) if area.has_boundaries else (area.bounding_box, None)


def drop_outside(
    area: ServiceArea, file: str, lines: list[int], columns: list[list[Any]], skipped: list[SkippedRow]
) -> tuple[list[int], list[list[Any]]]:
    """Move the rows whose point lies in no served district to skipped (vectorised); return the rest.

    columns are a Record's (ivrs first, latitude and longitude last).
    """
    import numpy as np

    lat = np.array(columns[6], dtype=np.float64)  # None is NaN
    lon = np.array(columns[7], dtype=np.float64)
    keep = area.contains_many(lat, lon) | np.isnan(lat)  # rows without a location are kept
    if keep.all():
        return lines, columns
    for index in np.flatnonzero(~keep).tolist():
        ivrs, row_lat, row_lon = columns[0][index], columns[6][index], columns[7][index]
        place = area.place(row_lat, row_lon)
        where = f"in {place.district} district, not served" if place.district else "in no served district"
        reason = f"outside the service area: {row_lat!r}, {row_lon!r} ({where})"
        skipped.append(SkippedRow(lines[index], reason, ivrs, file))
    kept = np.flatnonzero(keep).tolist()
    return [lines[index] for index in kept], [[column[index] for index in kept] for column in columns]


def read_batches(
    register: RegisterFile, service_area: BoundingBox | ServiceArea, batch_size: int
) -> Iterator[ParsedBatch]:
    """The register's rows in batches of about batch_size rows (written or skipped), then one closing batch.

    Rows are checked a chunk at a time (RowChecker.check_many) and given their spatial columns
    here, so that a reader process leaves the importing process only the database work. With
    district boundaries, rows inside the box but in no served district are skipped batch by batch.
    """
    name = str(register.path)
    box, boundaries = _area_parts(service_area)
    checker = RowChecker(register.columns, register.width, box)
    ivrs_index = checker.indexes[0]
    csv_file = register.kind == "csv"
    unit, size = ("B", register.size_bytes) if csv_file else ("rows", 0)
    position = 0

    def check(lines: list[int], rows: list[list[str] | str], into: ParsedBatch) -> None:
        """Check a chunk of rows and add it to a batch: kept rows to its columns, the others to its skipped."""
        skipped = into.skipped
        if str in set(map(type, rows)):  # records the csv module could not read
            skipped += [SkippedRow(line, cells, None, name) for line, cells in zip(lines, rows, strict=True)
                        if cells.__class__ is str]  # type: ignore[misc]  # fmt: skip
            pairs = [(line, cells) for line, cells in zip(lines, rows, strict=True) if cells.__class__ is not str]
            lines, rows = [line for line, _ in pairs], [cells for _, cells in pairs]
        kept, columns, rejected = checker.check_many(rows)  # type: ignore[arg-type]
        for index, reason in rejected:
            ivrs = normalise_ivrs(rows[index][ivrs_index])  # type: ignore[index]
            skipped.append(SkippedRow(lines[index], reason, ivrs, name))
        add(lines, kept, columns, into)

    def check_columns(lines: Sequence[int], cells_of: Columns, into: ParsedBatch) -> None:
        """check() for a chunk given as the file's columns (from pyarrow), as check does for rows."""
        kept, columns, rejected = checker.check_columns(cells_of, len(lines))
        for index, reason in rejected:
            ivrs = normalise_ivrs(cells_of[ivrs_index][index])  # type: ignore[index]
            into.skipped.append(SkippedRow(lines[index], reason, ivrs, name))
        add(lines, kept, columns, into)

    def add(lines: Sequence[int], kept: list[int], columns: list[list[Any]], into: ParsedBatch) -> None:
        """Add the kept rows of a checked chunk to the batch."""
        into.lines += lines if len(kept) == len(lines) else [lines[index] for index in kept]
        for column, values in zip(into.columns, columns, strict=False):  # the Record's columns; spatial ones come last
            column += values

    def finish(batch: ParsedBatch) -> ParsedBatch:
        nonlocal position
        columns = batch.columns
        if boundaries is not None and batch.lines:
            batch.lines, columns = drop_outside(boundaries, name, batch.lines, columns[:8], batch.skipped)
        batch.columns = columns[:8] + list(spatial_columns(columns[6], columns[7]))
        batch.skipped.sort(key=attrgetter("line"))
        batch.rows_read = len(batch.lines) + len(batch.skipped)
        now = register.bytes_read() if csv_file else position + batch.rows_read
        batch.progress, position = now - position, now
        return batch

    # Rows are checked in chunks of a few hundred: a chunk's cells stay in the processor's cache
    # through the column passes of check_many, and few lists live long enough to keep the
    # garbage collector busy. A batch gathers chunks until it has batch_size rows.
    batch = ParsedBatch(name, progress_unit=unit, size=size)
    for lines, rows, cells_of in register.cell_batches(min(batch_size, CHECK_ROWS)):
        if rows is not None:
            check(lines, rows, batch)  # type: ignore[arg-type]
        else:
            check_columns(lines, cells_of, batch)  # type: ignore[arg-type]
        if len(batch.lines) + len(batch.skipped) >= batch_size:
            yield finish(batch)
            batch = ParsedBatch(name, progress_unit=unit, size=size)
    last = finish(batch)
    if csv_file:
        last.progress += register.size_bytes - position
    last.notes = [f"{register.path.name}: ignored column {header!r}" for header in register.ignored_headers]
    last.notes += register.notes
    if fallback := register.fallback_bytes():
        last.notes.append(f"{register.path.name}: {fallback} bytes were not UTF-8, read them as cp1252")
    yield last


@dataclass(frozen=True)
class _Box:
    """The reader process's bounding box: BoundingBox's fields and test, without loading the configuration."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


def _send(out: Any, item: Any, *, last: bool = False) -> None:
    """Write item to out: a header (is it the last item, the pickle's length), then the pickle.

    Pickled without a memo, which is twice as fast for batches (their values are never shared or
    cyclic). The header lets the importing process read the bytes in a thread that hardly holds
    the GIL, and unpickle them when it takes the batch.
    """
    data = io.BytesIO()
    data.write(bytes(_HEADER.size))
    pickler = pickle.Pickler(data, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(item)
    _HEADER.pack_into(data.getbuffer(), 0, last, data.tell() - _HEADER.size)
    out.write(data.getbuffer())


def worker_main() -> None:
    """The reader process: read the files named on stdin and write their batches to stdout as pickles."""
    out = sys.stdout.buffer
    try:
        job = pickle.load(sys.stdin.buffer)
        try:
            service_area = job.get("boundaries") or _Box(**job["area"])
            for path in job["paths"]:
                register = open_register(Path(path))
                try:
                    for batch in read_batches(register, service_area, job["batch_size"]):
                        _send(out, batch)
                finally:
                    register.close()
            _send(out, None, last=True)
        except ImportFileError as exc:
            _send(out, ("ImportFileError", str(exc)), last=True)
        except Exception as exc:
            _send(out, ("error", f"{type(exc).__name__}: {exc}"), last=True)
        out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        # The importer stopped reading (it failed, or Ctrl-C): leave quietly, without the
        # interpreter complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _start_worker(
    paths: list[Path], service_area: BoundingBox | ServiceArea, batch_size: int
) -> subprocess.Popen[bytes]:
    # A plain subprocess rather than multiprocessing: spawn would re-import the caller's
    # __main__ module, which fails for any script without an `if __name__ == "__main__"` guard.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(_ROOT), os.environ.get("PYTHONPATH"))))}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from storage.consumer_batches import worker_main; worker_main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert worker.stdin is not None and worker.stdout is not None
    _widen_pipe(worker.stdout.fileno())
    box, boundaries = _area_parts(service_area)
    job = {
        "paths": [str(p.resolve()) for p in paths],
        "area": box.model_dump(),
        "boundaries": boundaries,  # a ServiceArea pickles as its district polygons
        "batch_size": batch_size,
    }
    pickle.dump(job, worker.stdin)
    worker.stdin.close()
    return worker


def _widen_pipe(fd: int) -> None:
    """Let the pipe hold a whole batch (Linux; elsewhere it stays as it is).

    With the default 64 KiB the reader process waits for every 64 KiB it writes until the
    receiving thread has had the GIL back to read them, many times per batch.
    """
    with contextlib.suppress(AttributeError, OSError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _receive(worker: subprocess.Popen[bytes], inbox: queue.Queue[Any], stop: threading.Event) -> None:
    """Thread: put the pickles the worker writes into the bounded inbox, so the worker can read ahead.

    It only reads (without the GIL): unpickling here, beside the database writes of the event
    loop's thread, would make the two threads trade the GIL for every row that sqlite3 steps.
    """
    assert worker.stdout is not None

    def put(item: Any) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                inbox.put(item, timeout=0.2)
                return

    try:
        while not stop.is_set():
            head = worker.stdout.read(_HEADER.size)
            last, length = _HEADER.unpack(head) if len(head) == _HEADER.size else (True, 0)
            data = worker.stdout.read(length) if length else b""
            if len(data) < length or not length:
                put(("error", f"the reader process stopped unexpectedly (exit code {worker.wait()})"))
                return
            put(data)
            if last:
                return
    except Exception as exc:
        put(("error", f"reading from the reader process failed: {exc}"))


async def _batches_from_worker(
    paths: list[Path], service_area: BoundingBox | ServiceArea, batch_size: int
) -> AsyncIterator[Any]:
    worker = _start_worker(paths, service_area, batch_size)
    inbox: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    receiver = threading.Thread(target=_receive, args=(worker, inbox, stop), name="register-reader", daemon=True)
    receiver.start()
    try:
        while True:
            item = await asyncio.to_thread(inbox.get)
            if isinstance(item, bytes):
                item = pickle.loads(item)
            if item is None:
                return
            if isinstance(item, tuple):
                kind, message = item
                raise ImportFileError(message) if kind == "ImportFileError" else RuntimeError(message)
            yield item
    finally:
        stop.set()
        if worker.poll() is None:
            worker.kill()
        await asyncio.to_thread(receiver.join, 5)
        await asyncio.to_thread(worker.wait)
        if worker.stdout is not None:
            worker.stdout.close()


async def parsed_batches(
    registers: list[RegisterFile],
    service_area: BoundingBox | ServiceArea,
    batch_size: int,
    *,
    parallel: bool | None = None,
) -> AsyncIterator[ParsedBatch]:
    """Batches of every register in turn; read in a worker process when parallel (default: for large files)."""
    if parallel is None:
        total = sum(r.size_bytes for r in registers)
        parallel = total >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1
    if not parallel:
        for register in registers:
            for batch in read_batches(register, service_area, batch_size):
                yield batch
        return
    for register in registers:
        register.close()  # the worker opens them again
    # Closed explicitly, so that a failed import stops the reader process at once rather than
    # whenever the abandoned generator happens to be finalised.
    paths = [r.path for r in registers]
    async with contextlib.aclosing(_batches_from_worker(paths, service_area, batch_size)) as stream:
        async for batch in stream:
            yield batch
