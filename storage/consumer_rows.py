"""Reading a consumer register file: header mapping, encodings, and the check of every row.

Nothing here touches the database; storage/consumer_import.py writes what this module reads.
A register is read one row at a time (CSV through the csv module, .xlsx through openpyxl in
read-only mode), so memory stays flat however long the file is.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.ivrs import normalise_ivrs

if TYPE_CHECKING:
    from bot.config import BoundingBox

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

TEXT_LIMITS = {"name": 200, "address": 400, "district": 60, "category": 20}  # the column widths
MAX_LOAD_KW = 100_000.0
HEADER_SEARCH_ROWS = 20  # title lines above the header row are skipped, up to this many
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = (",", ";", "\t", "|")

# Already-canonical IVRS (the common case) skip normalise_ivrs, which costs ten times more;
# a test holds this fast path in agreement with normalise_ivrs.
_CANONICAL_IVRS = re.compile(r"[A-Z0-9]{6,20}").fullmatch
_KW_SUFFIX = re.compile(r"\s*kw\s*$", re.IGNORECASE)
_NOT_IVRS_TEXT = re.compile(r"[^A-Z0-9\n]").search  # over a column of IVRS joined by newlines


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


# A checked row: ivrs, name, address, district, category, sanctioned_load_kw, latitude, longitude.
Record = tuple[str, str | None, str | None, str | None, str | None, float | None, float | None, float | None]


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


def _csv_batches(reader: Any, size: int) -> Iterator[tuple[list[int], list[list[str] | str]]]:
    """What _csv_rows yields after the header, in lists of size: line numbers and cells (or reasons)."""
    last = reader.line_num  # the header's last line
    lines: list[int] = []
    rows: list[list[str] | str] = []
    while True:
        try:
            for cells in reader:
                if len(cells) > 1 or (cells and cells[0].strip()):
                    lines.append(last + 1)
                    rows.append(cells)
                    if len(rows) >= size:
                        last = reader.line_num
                        yield lines, rows
                        lines, rows = [], []
                        continue
                last = reader.line_num
            break
        except csv.Error as exc:  # the reader carries on with the next record
            lines.append(last + 1)
            rows.append(f"unreadable row: {exc}")
            last = reader.line_num
            if len(rows) >= size:
                yield lines, rows
                lines, rows = [], []
    if rows:
        yield lines, rows


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[str] | str]]:
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
        if any(v is not None and v != "" for v in values):
            yield number, [_cell_text(v) for v in values]


def open_register(path: Path) -> RegisterFile:
    """Open a CSV or .xlsx register and find its header row; raise ImportFileError if it cannot be imported."""
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
        return _open_csv(path, size)
    except ImportFileError:
        raise
    except (OSError, UnicodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot be read: {exc}") from exc


def _open_csv(path: Path, size: int) -> RegisterFile:
    binary = path.open("rb")
    try:
        head = binary.read(65536)
        binary.seek(0)
        encoding = _text_encoding(head)
        text = io.TextIOWrapper(binary, encoding=encoding, errors="vmitra-cp1252", newline="")
        fallback_start = _fallback_bytes[0]
        reader = csv.reader(text, delimiter=_delimiter(head.decode(encoding, errors="replace")))
        rows = _csv_rows(reader)
        header_line, columns, width, ignored = _find_header(rows, path)
    except BaseException:
        binary.close()
        raise
    return RegisterFile(path, columns, width, ignored, header_line, size, "csv", _rows=rows, _reader=reader,
                        _close=text.close, _position=binary.tell, _fallback_start=fallback_start)  # fmt: skip


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


class RowChecker:
    """Turns the cells of one row into a Record, or into the reason the row must be skipped."""

    def __init__(self, columns: dict[str, int], width: int, service_area: BoundingBox) -> None:
        self.width = width
        # Columns the file lacks read an always-empty cell appended just past the header's width.
        self.padded = len(columns) < len(COLUMNS)
        self.indexes = tuple(columns.get(name, width) for name in COLUMNS)
        self.pick = itemgetter(*self.indexes)
        self.area = service_area
        self.min_lat, self.max_lat = service_area.min_lat, service_area.max_lat
        self.min_lon, self.max_lon = service_area.min_lon, service_area.max_lon

    def fit(self, cells: list[str]) -> list[str]:
        """The cells cut or padded to the header's width, plus the empty cell for absent columns."""
        width = self.width
        if len(cells) > width:
            del cells[width:]
        elif len(cells) < width:
            cells.extend([""] * (width - len(cells)))
        if self.padded:
            cells.append("")
        return cells

    def check(self, cells: list[str]) -> Record | str:
        """The row as a Record, or why it is skipped (a reason such as "bad load: ...")."""
        # The common case (a well-formed row) runs straight through; every problem branches out.
        if len(cells) != self.width or self.padded:
            cells = self.fit(cells)
        raw, name, address, district, category, load_text, lat_text, lon_text = self.pick(cells)
        if _CANONICAL_IVRS(raw) and not raw.isalpha():
            ivrs = raw
        else:
            ivrs = normalise_ivrs(raw)
            if ivrs is None:
                return f"malformed IVRS: {raw.strip()!r}" if raw.strip() else "missing IVRS"

        load = None
        if load_text:
            try:
                load = float(load_text)
            except ValueError:
                load = _load_with_unit(load_text)
                if load is None:
                    return f"bad load: {load_text.strip()!r} is not a number"
            if not 0.0 <= load <= MAX_LOAD_KW:
                return f"bad load: {load_text.strip()} kW is {'negative' if load < 0 else 'not plausible'}"

        lat = lon = None
        if lat_text or lon_text:
            try:
                lat, lon = float(lat_text), float(lon_text)
            except ValueError:
                reason = _coordinate_problem(lat_text, lon_text)
                if reason:
                    return reason
            if lat is not None and not (self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon):
                return _area_problem(self.area, lat, lon, lat_text, lon_text)  # type: ignore[arg-type]

        name = name.strip() or None
        address = address.strip() or None
        district = district.strip() or None
        category = category.strip() or None
        if (
            (name and len(name) > TEXT_LIMITS["name"])
            or (address and len(address) > TEXT_LIMITS["address"])
            or (district and len(district) > TEXT_LIMITS["district"])
            or (category and len(category) > TEXT_LIMITS["category"])
        ):
            return _too_long(name=name, address=address, district=district, category=category)
        if (
            (name and "\x00" in name)
            or (address and "\x00" in address)
            or (district and "\x00" in district)
            or (category and "\x00" in category)
        ):
            return "unreadable row: it holds a NUL character"  # PostgreSQL cannot store one in text
        return (ivrs, name, address, district, category, load, lat, lon)

    def check_many(self, rows: list[list[str]]) -> tuple[list[int], list[list[Any]], list[tuple[int, str]]]:
        """check() for many rows at once: the indexes of the rows kept, their columns, and (index, reason) of the rest.

        The columns are the Record's, one list each. Every test runs over a whole column (a
        regular expression over the joined IVRS, float() mapped over a column, numpy for the
        ranges); a row that any of them doubts is then given to check(), so every reason and
        every value is exactly what check() gives. Rows are cut or padded to the header's width
        in place, as check() does.
        """
        import numpy as np  # here: only the import of a file needs it

        n = len(rows)
        if not n:
            return [], [[] for _ in COLUMNS], []
        width = self.width
        if set(map(len, rows)) != {width}:
            for cells in rows:
                if len(cells) > width:
                    del cells[width:]
                elif len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
        doubt = np.zeros(n, dtype=bool)
        i_ivrs, i_name, i_address, i_district, i_category, i_load, i_lat, i_lon = self.indexes

        raw = [cells[i_ivrs] for cells in rows]
        joined = "\n".join(raw)
        if not (
            _NOT_IVRS_TEXT(joined) is None
            and joined.count("\n") == n - 1
            and min(map(len, raw)) >= 6
            and max(map(len, raw)) <= 20
            and not any(map(str.isalpha, raw))
        ):
            for index, value in enumerate(raw):
                if not (_CANONICAL_IVRS(value) and not value.isalpha()):
                    doubt[index] = True

        loads = _floats([cells[i_load] for cells in rows] if i_load < width else None, n, doubt)
        if loads is not None:
            values = np.array(loads, dtype=np.float64)  # None is NaN
            doubt |= ~((values >= 0.0) & (values <= MAX_LOAD_KW)) & _present(loads, values)
        lats = _floats([cells[i_lat] for cells in rows] if i_lat < width else None, n, doubt)
        lons = _floats([cells[i_lon] for cells in rows] if i_lon < width else None, n, doubt)
        if lats is None or lons is None:  # a file with one of the two columns only
            if lats is not None or lons is not None:
                doubt |= _present(lats or lons, np.array(lats or lons, dtype=np.float64))
            lats = lons = [None] * n
        else:
            lat, lon = np.array(lats, dtype=np.float64), np.array(lons, dtype=np.float64)
            inside = (lat >= self.min_lat) & (lat <= self.max_lat) & (lon >= self.min_lon) & (lon <= self.max_lon)
            doubt |= ~inside & (_present(lats, lat) | _present(lons, lon))

        texts = []
        for index, column in zip((i_name, i_address, i_district, i_category), TEXT_LIMITS, strict=True):
            if index >= width:
                texts.append([None] * n)
                continue
            values = [cells[index].strip() or None for cells in rows]
            given = list(filter(None, values))
            if given and (max(map(len, given)) > TEXT_LIMITS[column] or "\x00" in "".join(given)):
                limit = TEXT_LIMITS[column]
                for position, value in enumerate(values):
                    if value and (len(value) > limit or "\x00" in value):
                        doubt[position] = True
            texts.append(values)

        columns: list[list[Any]] = [raw, *texts, loads if loads is not None else [None] * n, lats, lons]
        if not doubt.any():
            return list(range(n)), columns, []
        rejected: list[tuple[int, str]] = []
        fixed: dict[int, Record] = {}
        for index in np.flatnonzero(doubt).tolist():
            result = self.check(rows[index])
            if result.__class__ is tuple:
                fixed[index] = result  # type: ignore[assignment]
            else:
                rejected.append((index, result))  # type: ignore[arg-type]
        kept = sorted(np.flatnonzero(~doubt).tolist() + list(fixed))
        columns = [[column[index] for index in kept] for column in columns]
        for position, index in enumerate(kept):
            record = fixed.get(index)
            if record is not None:
                for column, value in zip(columns, record, strict=True):
                    column[position] = value
        return kept, columns, rejected


def _floats(texts: list[str] | None, n: int, doubt: Any) -> list[float | None] | None:
    """float() of each cell, None for an empty one (None for an absent column); doubt marks cells that fail."""
    if texts is None:
        return None
    try:
        return [float(text) if text else None for text in texts]
    except ValueError:
        values: list[float | None] = []
        for index, text in enumerate(texts):
            value = None
            if text:
                try:
                    value = float(text)
                except ValueError:
                    doubt[index] = True
            values.append(value)
        return values


def _present(values: list[float | None], array: Any) -> Any:
    """Which values are given: not None. A NaN that came from the file ("nan") counts as given."""
    import numpy as np

    missing = np.isnan(array)
    if int(missing.sum()) != values.count(None):  # a "nan" in the file: find each None
        missing = np.fromiter((value is None for value in values), dtype=bool, count=len(values))
    return ~missing


def _area_problem(area: BoundingBox, lat: float, lon: float, lat_text: str, lon_text: str) -> str:
    """Why a point that parsed is not accepted: out of range, or outside the service area."""
    shown = f"{lat_text.strip()}, {lon_text.strip()}"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return f"bad coordinates: {shown} out of range"
    hint = " (latitude and longitude swapped?)" if area.contains(lon, lat) else ""
    return f"outside the service area: {shown}{hint}"


def _too_long(**values: str | None) -> str:
    for column, value in values.items():
        if value and len(value) > TEXT_LIMITS[column]:
            return f"{column} too long: {len(value)} characters, at most {TEXT_LIMITS[column]}"
    raise AssertionError("no value is too long")


def _load_with_unit(text: str) -> float | None:
    try:
        return float(_KW_SUFFIX.sub("", text))
    except ValueError:
        return None


def _coordinate_problem(lat_text: str, lon_text: str) -> str | None:
    """Why a latitude/longitude pair is unusable, or None when both cells are simply blank."""
    lat_blank, lon_blank = not lat_text.strip(), not lon_text.strip()
    if lat_blank and lon_blank:
        return None
    if lat_blank or lon_blank:
        return f"bad coordinates: only the {'longitude' if lat_blank else 'latitude'} is given"
    for label, text in (("latitude", lat_text), ("longitude", lon_text)):
        try:
            float(text)
        except ValueError:
            return f"bad coordinates: {label} {text.strip()!r} is not a number"
    return None
