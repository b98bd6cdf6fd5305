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
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import BoundingBox
from storage import geo
from storage.consumer_rows import ImportFileError, Record, RegisterFile, RowChecker, SkippedRow, open_register
from storage.repositories.consumers import normalise_ivrs

if TYPE_CHECKING:
    from bot.service_area import ServiceArea

_ROOT = Path(__file__).resolve().parent.parent  # the project folder, which the worker imports from
PARALLEL_MIN_BYTES = 16_000_000  # below this (about 150,000 rows) a worker process costs more than it saves
QUEUE_BATCHES = 4  # batches the worker may read ahead of the database


@dataclass
class ParsedBatch:
    """Rows of one file ready to write, the rows skipped among them, and how far the file has been read."""

    file: str
    lines: list[int] = field(default_factory=list)
    rows: list[Record] = field(default_factory=list)  # spatial columns are added just before writing
    skipped: list[SkippedRow] = field(default_factory=list)
    rows_read: int = 0
    progress: int = 0  # bytes (CSV) or rows (Excel) read since the previous batch
    progress_unit: str = "B"
    size: int = 0  # the whole file, in progress units (0 when unknown)
    notes: list[str] = field(default_factory=list)


def spatial_columns(lats: list[float | None], lons: list[float | None]) -> tuple[list, list, list, list]:
    """cell, ux, uy, uz for each point, as storage.geo computes them (None where there is no point).

    Vectorised over the batch; tests hold it equal to geo.cell_of and geo.unit_vector.
    """
    import numpy as np  # here, so that the reader process, which never needs it, stays small

    missing = None in lats or None in lons
    if missing:
        lats = [np.nan if v is None else v for v in lats]
        lons = [np.nan if v is None else v for v in lons]
    lat = np.asarray(lats, dtype=np.float64)
    lon = np.asarray(lons, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        row = np.floor((lat + 90.0) / geo.CELL_DEG)
        col = np.floor((lon + 180.0) / geo.CELL_DEG)
        ok = ~(np.isnan(row) | np.isnan(col))
        cell = np.where(ok, row, 0).astype(np.int64) * geo.CELL_ROW_STRIDE + np.where(ok, col, 0).astype(np.int64)
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    columns = [cell.tolist(), (cos_phi * np.cos(lam)).tolist(), (cos_phi * np.sin(lam)).tolist(), np.sin(phi).tolist()]
    if missing:
        for index in np.flatnonzero(~ok).tolist():
            for values in columns:
                values[index] = None
    return columns[0], columns[1], columns[2], columns[3]


def with_spatial_columns(records: list[Record]) -> list[tuple]:
    """Checked records extended with cell, ux, uy, uz (the values in ROW_COLUMNS order)."""
    if not records:
        return []
    ivrs, name, address, district, category, load, lat, lon = zip(*records, strict=True)
    cell, ux, uy, uz = spatial_columns(list(lat), list(lon))
    return list(zip(ivrs, name, address, district, category, load, lat, lon, cell, ux, uy, uz, strict=True))


def _area_parts(area: BoundingBox | ServiceArea) -> tuple[BoundingBox, ServiceArea | None]:
    """The box every row is checked against, and the district boundaries when they decide.

    With boundaries the box holds every district of the file, so that a row in one the company does not
    serve reaches the polygons and is skipped with that district's name.
    """
    if isinstance(area, BoundingBox):
        return area, None
    return (area.outer_box, area) if area.has_boundaries else (area.bounding_box, None)


def drop_outside(
    area: ServiceArea, file: str, lines: list[int], records: list[Record], skipped: list[SkippedRow]
) -> tuple[list[int], list[Record]]:
    """Move the records whose point lies in no served district to skipped (vectorised); return the rest."""
    import numpy as np  # here, so that a reader process without boundaries never loads it

    lat = np.array([np.nan if r[6] is None else r[6] for r in records], dtype=np.float64)
    lon = np.array([np.nan if r[7] is None else r[7] for r in records], dtype=np.float64)
    keep = area.contains_many(lat, lon) | np.isnan(lat)  # rows without a location are kept
    if keep.all():
        return lines, records
    for index in np.flatnonzero(~keep).tolist():
        ivrs, *_, row_lat, row_lon = records[index]
        place = area.place(row_lat, row_lon)  # type: ignore[arg-type]
        where = f"in {place.district} district, not served" if place.district else "in no served district"
        reason = f"outside the service area: {row_lat!r}, {row_lon!r} ({where})"
        skipped.append(SkippedRow(lines[index], reason, ivrs, file))
    skipped.sort(key=attrgetter("line"))
    kept = keep.tolist()
    return (
        [line for line, ok in zip(lines, kept, strict=True) if ok],
        [record for record, ok in zip(records, kept, strict=True) if ok],
    )


def read_batches(
    register: RegisterFile, service_area: BoundingBox | ServiceArea, batch_size: int
) -> Iterator[ParsedBatch]:
    """The register's rows in batches of about batch_size rows (written or skipped).

    With district boundaries, rows inside the box but in no served district are skipped batch by batch.
    """
    name = str(register.path)
    box, boundaries = _area_parts(service_area)
    checker = RowChecker(register.columns, register.width, box)
    check = checker.check
    csv_file = register.kind == "csv"
    unit, size = ("B", register.size_bytes) if csv_file else ("rows", 0)
    position = 0

    def batch(lines: list[int], records: list[Record], skipped: list[SkippedRow]) -> ParsedBatch:
        nonlocal position
        if boundaries is not None and records:
            lines, records = drop_outside(boundaries, name, lines, records, skipped)
        read = len(records) + len(skipped)
        now = register.bytes_read() if csv_file else position + read
        done = ParsedBatch(name, lines, records, skipped, read, now - position, unit, size)
        position = now
        return done

    lines: list[int] = []
    records: list[Record] = []
    skipped: list[SkippedRow] = []
    room = batch_size
    for line, cells in register.rows():
        result = cells if isinstance(cells, str) else check(cells)
        if result.__class__ is tuple:
            lines.append(line)
            records.append(result)  # type: ignore[arg-type]
        else:
            ivrs = normalise_ivrs(cells[checker.indexes[0]]) if isinstance(cells, list) else None
            skipped.append(SkippedRow(line, result, ivrs, name))  # type: ignore[arg-type]
        room -= 1
        if not room:
            yield batch(lines, records, skipped)
            lines, records, skipped = [], [], []
            room = batch_size
    last = batch(lines, records, skipped)
    if csv_file:
        last.progress += register.size_bytes - position
    last.notes = [f"{register.path.name}: ignored column {header!r}" for header in register.ignored_headers]
    last.notes += register.notes
    if fallback := register.fallback_bytes():
        last.notes.append(f"{register.path.name}: {fallback} bytes were not UTF-8, read them as cp1252")
    yield last


def worker_main() -> None:
    """The reader process: read the files named on stdin and write their batches to stdout as pickles."""
    out = sys.stdout.buffer
    try:
        job = pickle.load(sys.stdin.buffer)
        try:
            service_area = job.get("boundaries") or BoundingBox(**job["area"])
            for path in job["paths"]:
                register = open_register(Path(path))
                try:
                    for batch in read_batches(register, service_area, job["batch_size"]):
                        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                finally:
                    register.close()
            pickle.dump(None, out)
        except ImportFileError as exc:
            pickle.dump(("ImportFileError", str(exc)), out)
        except Exception as exc:
            pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
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
    assert worker.stdin is not None
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


def _receive(worker: subprocess.Popen[bytes], inbox: queue.Queue[Any], stop: threading.Event) -> None:
    """Thread: unpickle what the worker writes into the bounded inbox, so the worker can read ahead."""
    assert worker.stdout is not None

    def put(item: Any) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                inbox.put(item, timeout=0.2)
                return

    try:
        while not stop.is_set():
            item = pickle.load(worker.stdout)
            put(item)
            if item is None or isinstance(item, tuple):
                return
    except EOFError:
        put(("error", f"the reader process stopped unexpectedly (exit code {worker.wait()})"))
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
        while (item := await asyncio.to_thread(inbox.get)) is not None:
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
