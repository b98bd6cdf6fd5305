"""Reading a consumer register file: header mapping, encodings, and the rows as cells.

Nothing here touches the database; storage/consumer_checks.py checks the rows this module
reads, and storage/consumer_import.py writes them. A register is read a little at a time (CSV
through pyarrow while its lines are clean, see storage/consumer_fast_csv.py, and through the csv
module from the first block that is not; .xlsx through openpyxl in read-only mode), so memory
stays flat however long the file is.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from storage.consumer_fast_csv import Columns, FastCsv

COLUMNS = ("ivrs", "name", "address", "district", "category", "sanctioned_load_kw", "latitude", "longitude")

# Accepted headers per column, compared after header_key(): case, spaces, underscores and
# punctuation do not matter, so "IVRS No.", "ivrs_no" and "IvrsNo" are all "ivrsno".
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "ivrs": (
        "ivrs", "ivrsno", "ivrsnumber", "ivrsnum", "ivrsid", "ivrscode", "consumerivrs", "consumerid",
        "consumerno", "consumernumber", "accountno", "accountnumber", "आईवीआरएस", "आईवीआरएसनंबर",
    ),
    "name": ("name", "consumername", "nameofconsumer", "nameoftheconsumer", "customername", "consumer", "नाम"),
    "address": ("address", "consumeraddress", "premisesaddress", "addr", "पता"),
    "district": ("district", "districtname", "dist", "जिला", "ज़िला"),
    "category": ("category", "tariffcategory", "tariff", "tariffcode", "consumercategory", "cat", "श्रेणी"),
    "sanctioned_load_kw": (
        "sanctionedloadkw", "sanctionedload", "sanctionedloadinkw", "sancloadkw", "sancload", "loadkw", "load",
        "स्वीकृतभार",
    ),
    "latitude": ("latitude", "lat", "gpslatitude", "gpslat", "अक्षांश"),
    "longitude": ("longitude", "lon", "lng", "long", "gpslongitude", "gpslon", "gpslng", "देशांतर"),
}  # fmt: skip
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}

HEADER_SEARCH_ROWS = 20  # title lines above the header row are skipped, up to this many
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = (",", ";", "\t", "|")


class ImportFileError(Exception):
    """A register file cannot be imported at all (missing, unreadable, or without an IVRS column)."""


@dataclass(slots=True)
class SkippedRow:
    """A row left out of the import: where it is, why, and its IVRS when it has one."""

    line: int
    reason: str
    ivrs: str | None
    file: str = ""

    @property
    def kind(self) -> str:
        """The reason without its details, e.g. "bad coordinates"."""
        return self.reason.split(":", 1)[0]


def header_key(text: object) -> str:
    """A header reduced to lower-case letters and digits (Devanagari vowel signs kept)."""
    folded = unicodedata.normalize("NFC", str(text or "")).casefold()
    return "".join(ch for ch in folded if ch.isalnum() or unicodedata.category(ch).startswith("M"))


def map_header(cells: list[str]) -> tuple[dict[str, int], list[str]]:
    """Which cell holds each known column, and the headers that were not recognised."""
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        column = _ALIAS_TO_COLUMN.get(header_key(cell))
        if column is None:
            if str(cell).strip():
                ignored.append(str(cell).strip())
        elif column in found:
            raise ImportFileError(
                f"two columns both read as {column!r}: {cells[found[column]]!r} and {cell!r}; rename or remove one"
            )
        else:
            found[column] = index
    return found, ignored


# Text decoding: UTF-8 (with or without BOM) is expected; any byte sequence that is not valid
# UTF-8 is read as cp1252 (Windows "ANSI", what Excel writes), so legacy files still import.

_fallback_bytes = [0]  # bytes read as cp1252 so far, in this process


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    _fallback_bytes[0] += len(bad)
    # The five bytes cp1252 leaves undefined are read as Latin-1, so decoding never fails.
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in bad), error.end


codecs.register_error("vmitra-cp1252", _cp1252_fallback)


def _text_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"  # strips a UTF-8 BOM when there is one, and is plain UTF-8 otherwise


def _delimiter(sample: str) -> str:
    counts = {d: sample.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell_text(value: Any) -> str:
    """An Excel cell value as the text a CSV file would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # an IVRS typed as a number comes back as 3330008565.0
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@dataclass
class RegisterFile:
    """An opened register: where each column is, and an iterator over its data rows."""

    path: Path
    columns: dict[str, int]
    width: int  # cells in the header row
    ignored_headers: list[str]
    header_line: int
    size_bytes: int
    kind: str  # "csv" or "xlsx"
    notes: list[str] = field(default_factory=list)
    _rows: Iterator[tuple[int, list[str] | str]] | None = None
    _reader: Any = None  # the csv reader (CSV only), positioned just after the header
    _close: Any = None
    _position: Any = None
    _fallback_start: int = 0
    _go_fast: Any = None  # hands the file after the header to a FastCsv (CSV only), see cell_batches
    _resume: Any = None  # a csv reader from a byte offset on, where the clean stretch ends

    def rows(self) -> Iterator[tuple[int, list[str] | str]]:
        """(line number, cells) for every row after the header, blank rows left out.

        A record the csv module cannot parse comes as (line number, the reason it is skipped).
        """
        assert self._rows is not None, "open the file with open_register()"
        return self._rows

    def row_batches(self, size: int) -> Iterator[tuple[list[int], list[list[str] | str]]]:
        """The rows of rows() in lists of size (the last one shorter): their line numbers, and their cells.

        For CSV this is rows() without a generator step per row: the reading loop is most of the
        time a large file takes to read.
        """
        if self._reader is not None:
            yield from _csv_batches(self._reader, size)
            return
        lines: list[int] = []
        batch: list[list[str] | str] = []
        for line, cells in self.rows():
            lines.append(line)
            batch.append(cells)
            if len(batch) >= size:
                yield lines, batch
                lines, batch = [], []
        if batch:
            yield lines, batch

    def cell_batches(self, size: int) -> Iterator[tuple[Sequence[int], list[list[str] | str] | None, Columns | None]]:
        """Rows in batches of at most size: (line numbers, rows as row_batches gives them, None).

        Or, for a clean stretch of a CSV file that pyarrow reads (storage/consumer_fast_csv.py),
        (line numbers, None, one list of cells per column of the file, None where no Record takes it).
        """
        fast = self._go_fast() if self._go_fast is not None else None
        if fast is None:
            for lines, rows in self.row_batches(size):
                yield lines, rows, None
            return
        for lines, columns in fast.batches(size):
            yield lines, None, columns
        if not fast.finished:
            for lines, rows in _csv_batches(self._resume(fast.offset), size, line_base=fast.line):
                yield lines, rows, None

    def bytes_read(self) -> int:
        """How far into the file the reader is, for progress (CSV only; 0 for Excel)."""
        return int(self._position()) if self._position else 0

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def fallback_bytes(self) -> int:
        """Bytes read so far that were not UTF-8 and were therefore read as cp1252."""
        return _fallback_bytes[0] - self._fallback_start


def _find_header(rows: Iterator[tuple[int, list[str] | str]], path: Path) -> tuple[int, dict[str, int], int, list[str]]:
    first: list[str] | None = None
    for seen, (line, cells) in enumerate(rows):
        if isinstance(cells, str):
            continue  # an unparseable record cannot be the header
        columns, ignored = map_header(cells)
        if "ivrs" in columns:
            return line, columns, len(cells), ignored
        if first is None:
            first = cells
        if seen + 1 >= HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise ImportFileError(f"{path}: the file is empty (no header row)")
    shown = ", ".join(repr(c) for c in first if str(c).strip()) or "(none)"
    raise ImportFileError(
        f"{path}: no IVRS column; the header row has: {shown}. "
        f"Name the column 'ivrs' (also accepted: 'IVRS No', 'IVRS Number', 'Consumer No')"
    )


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(first physical line of the record, cells), or (line, reason) for a record the csv module rejects."""
    last = 0
    while True:
        try:
            for cells in reader:
                line, last = last + 1, reader.line_num
                if len(cells) > 1 or (cells and cells[0].strip()):
                    yield line, cells
            return
        except csv.Error as exc:  # the reader carries on with the next record
            line, last = last + 1, reader.line_num
            yield line, f"unreadable row: {exc}"


def _csv_batches(reader: Any, size: int, line_base: int = 0) -> Iterator[tuple[list[int], list[list[str] | str]]]:
    """What _csv_rows yields after the header, in lists of size: line numbers and cells (or reasons).

    line_base: the lines before the reader's first one (when it starts part way into the file).
    """
    last = line_base + reader.line_num  # the header's last line
    lines: list[int] = []
    rows: list[list[str] | str] = []
    while True:
        try:
            for cells in reader:
                if len(cells) > 1 or (cells and cells[0].strip()):
                    lines.append(last + 1)
                    rows.append(cells)
                    if len(rows) >= size:
                        last = line_base + reader.line_num
                        yield lines, rows
                        lines, rows = [], []
                        continue
                last = line_base + reader.line_num
            break
        except csv.Error as exc:  # the reader carries on with the next record
            lines.append(last + 1)
            rows.append(f"unreadable row: {exc}")
            last = line_base + reader.line_num
            if len(rows) >= size:
                yield lines, rows
                lines, rows = [], []
    if rows:
        yield lines, rows


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[str] | str]]:
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
        if any(v is not None and v != "" for v in values):
            yield number, [_cell_text(v) for v in values]


def open_register(path: Path, *, fast: bool = True) -> RegisterFile:
    """Open a CSV or .xlsx register and find its header row; raise ImportFileError if it cannot be imported.

    fast lets cell_batches read the clean stretches of a CSV file with pyarrow (tests turn it off
    to compare).
    """
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if path.is_dir():
        raise ImportFileError(f"{path}: is a folder, not a file")
    if path.suffix.lower() in (".xls", ".ods"):
        raise ImportFileError(f"{path}: {path.suffix} files are not supported; save it as .xlsx or CSV (UTF-8)")
    try:
        size = path.stat().st_size
        if path.suffix.lower() in EXCEL_SUFFIXES:
            return _open_xlsx(path, size)
        return _open_csv(path, size, fast)
    except ImportFileError:
        raise
    except (OSError, UnicodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot be read: {exc}") from exc


def _open_csv(path: Path, size: int, fast: bool) -> RegisterFile:
    binary = path.open("rb")
    try:
        head = binary.read(65536)
        binary.seek(0)
        encoding = _text_encoding(head)
        text = io.TextIOWrapper(binary, encoding=encoding, errors="vmitra-cp1252", newline="")
        fallback_start = _fallback_bytes[0]
        delimiter = _delimiter(head.decode(encoding, errors="replace"))
        reader = csv.reader(text, delimiter=delimiter)
        rows = _csv_rows(reader)
        header_line, columns, width, ignored = _find_header(rows, path)
    except BaseException:
        binary.close()
        raise
    register = RegisterFile(path, columns, width, ignored, header_line, size, "csv", _rows=rows, _reader=reader,
                            _close=text.close, _position=binary.tell, _fallback_start=fallback_start)  # fmt: skip
    offset = _line_end(head, reader.line_num)
    if not (fast and encoding == "utf-8-sig" and width > 1 and offset is not None):
        return register
    header_end = reader.line_num

    def go_fast() -> FastCsv | None:
        """pyarrow reads on from the header, unless the csv module has read past it already."""
        register._go_fast = None
        if reader.line_num != header_end:
            return None
        # The text wrapper is set aside unclosed; a new one starts where the csv module takes over.
        # It has decoded ahead of the header: count again only what the header's bytes held.
        text.detach()
        register._fallback_start = _fallback_bytes[0] - _fallback_in(head[:offset])
        register._close, register._reader, register._rows = binary.close, None, None
        return FastCsv(binary, offset, header_end, delimiter, width, list(columns.values()))

    def resume(at: int) -> Any:
        binary.seek(at)
        wrapper = io.TextIOWrapper(binary, encoding="utf-8", errors="vmitra-cp1252", newline="")
        register._close = wrapper.close  # which also keeps it (and the file) open until then
        return csv.reader(wrapper, delimiter=delimiter)

    register._go_fast, register._resume = go_fast, resume
    return register


def _fallback_in(data: bytes) -> int:
    """How many of these bytes are not UTF-8 (and would be read as cp1252)."""
    before = _fallback_bytes[0]
    data.decode("utf-8-sig", errors="vmitra-cp1252")
    counted, _fallback_bytes[0] = _fallback_bytes[0] - before, before
    return counted


def _line_end(head: bytes, lines: int) -> int | None:
    """The byte offset just after the first lines lines of head; None if head ends first or holds a lone "\r"."""
    position = 0
    for _ in range(lines):
        position = head.find(b"\n", position) + 1
        if position == 0:
            return None
    if head.count(b"\r", 0, position) != head.count(b"\r\n", 0, position):
        return None
    return position


def _open_xlsx(path: Path, size: int) -> RegisterFile:
    from openpyxl import load_workbook  # imported here: only Excel files need it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for bad files
        raise ImportFileError(f"{path}: not a readable .xlsx workbook: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions; read every row there is
        rows = _xlsx_rows(sheet)
        header_line, columns, width, ignored = _find_header(rows, path)
    except BaseException:
        book.close()
        raise
    notes = [f"{path.name}: read the first sheet, {sheet.title!r}"] if len(book.worksheets) > 1 else []
    return RegisterFile(path, columns, width, ignored, header_line, size, "xlsx", notes, _rows=rows, _close=book.close)
