"""Checking the rows of a consumer register: each row becomes a Record, or the reason it is skipped.

storage/consumer_rows.py reads the cells; this module decides what they mean. RowChecker.check
takes one row; check_many takes a few hundred at once, a column at a time, and hands only the
rows it doubts to check(), so both give the same reasons and values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from storage.consumer_rows import COLUMNS
from storage.ivrs import normalise_ivrs

if TYPE_CHECKING:
    from bot.config import BoundingBox

TEXT_LIMITS = {"name": 200, "address": 400, "district": 60, "category": 20}  # the column widths
MAX_LOAD_KW = 100_000.0

# Already-canonical IVRS (the common case) skip normalise_ivrs, which costs ten times more;
# a test holds this fast path in agreement with normalise_ivrs.
_CANONICAL_IVRS = re.compile(r"[A-Z0-9]{6,20}").fullmatch
_KW_SUFFIX = re.compile(r"\s*kw\s*$", re.IGNORECASE)
_NOT_IVRS_TEXT = re.compile(r"[^A-Z0-9\n]").search  # over a column of IVRS joined by newlines

# A checked row: ivrs, name, address, district, category, sanctioned_load_kw, latitude, longitude.
Record = tuple[str, str | None, str | None, str | None, str | None, float | None, float | None, float | None]


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
        n = len(rows)
        width = self.width
        if n and set(map(len, rows)) != {width}:
            for cells in rows:
                if len(cells) > width:
                    del cells[width:]
                elif len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
        return self.check_columns(list(zip(*rows, strict=True)), n)  # transposed in C (nothing, for no rows)

    def check_columns(
        self, cells_of: Sequence[Sequence[str] | None], n: int
    ) -> tuple[list[int], list[list[Any]], list[tuple[int, str]]]:
        """check_many for n rows given as columns of the file: one sequence of cells per column, None for a column
        no Record takes."""
        import numpy as np  # here: only the import of a file needs it

        if not n:
            return [], [[] for _ in COLUMNS], []
        width = self.width
        doubt = np.zeros(n, dtype=bool)
        i_ivrs, i_name, i_address, i_district, i_category, i_load, i_lat, i_lon = self.indexes

        raw = list(cells_of[i_ivrs])
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

        loads = _floats(cells_of[i_load] if i_load < width else None, n, doubt)
        if loads is not None:
            values = np.array(loads, dtype=np.float64)  # None is NaN
            doubt |= ~((values >= 0.0) & (values <= MAX_LOAD_KW)) & _present(loads, values)
        lats = _floats(cells_of[i_lat] if i_lat < width else None, n, doubt)
        lons = _floats(cells_of[i_lon] if i_lon < width else None, n, doubt)
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
            values: list[str | None] = list(map(str.strip, cells_of[index]))
            limit = TEXT_LIMITS[column]
            if max(map(len, values)) > limit or "\x00" in "".join(values):  # type: ignore[arg-type]
                for position, value in enumerate(values):
                    if len(value) > limit or "\x00" in value:  # type: ignore[arg-type]
                        doubt[position] = True
            if "" in values:
                values = [value or None for value in values]
            texts.append(values)

        columns: list[list[Any]] = [raw, *texts, loads if loads is not None else [None] * n, lats, lons]
        if not doubt.any():
            return list(range(n)), columns, []
        rejected: list[tuple[int, str]] = []
        fixed: dict[int, Record] = {}
        for index in np.flatnonzero(doubt).tolist():
            result = self.check([column[index] if column is not None else "" for column in cells_of])
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


def _floats(texts: Sequence[str] | None, n: int, doubt: Any) -> list[float | None] | None:
    """float() of each cell, None for an empty one (None for an absent column); doubt marks cells that fail."""
    if texts is None:
        return None
    if "" not in texts:
        try:
            return list(map(float, texts))
        except ValueError:
            pass
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
