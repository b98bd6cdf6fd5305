"""The register reader's fast paths against the plain ones: checking a chunk of rows at once, reading in chunks.

RowChecker.check_many tests whole columns at once and hands every row it doubts to check();
hypothesis holds it equal to check() row by row, on rows built to hit every test and its edges.
RegisterFile.row_batches reads a CSV file without a generator step per row; it must give the
same line numbers and cells as rows(). The reader process's transport must give the same batches.
"""

from __future__ import annotations

import math
import pickle
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import ServiceAreaSettings
from storage import geo
from storage.consumer_batches import (
    _HEADER,
    ParsedBatch,
    _batches_from_worker,
    _send,
    read_batches,
    spatial_columns,
)
from storage.consumer_checks import RowChecker
from storage.consumer_rows import COLUMNS, open_register

AREA = ServiceAreaSettings().bounding_box

# Each column mostly well formed (so that a row's one odd value decides it), sometimes odd in every way.
GOOD_IVRS = st.sampled_from(["N3330008565", "S1234567890", "ABC123", "123456", "A" * 19 + "1"])
IVRS = st.one_of(
    GOOD_IVRS,
    GOOD_IVRS,
    GOOD_IVRS,
    st.sampled_from(["", " ", "n-333-000-8565", "N 333 000 8565", "AB-1", "ABCDEFGH", "N3330008565 ", "N333\n0008565"]),
    st.sampled_from(["N333000856", "A" * 20 + "1", "ABCDEF"]),
    st.text(alphabet="ABCN0123456789 -./a\x00", max_size=22),
)
GOOD_LOAD = st.one_of(st.sampled_from(["", "1.5", "0", "100000", "-0"]), st.floats(0, 100_000).map(repr))
LOAD = st.one_of(
    GOOD_LOAD,
    GOOD_LOAD,
    GOOD_LOAD,
    st.sampled_from(["100000.01", "-2", "250000", "high", "2 kW", "3KW", " 4 ", "nan", "inf", "1e3", "1_000"]),
    st.sampled_from(["५", " ", "1,5", "-1e-300"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
GOOD_LAT = st.one_of(st.sampled_from(["23.18", "21.0", "25.5", ""]), st.floats(21, 25.5).map(repr))
LAT = st.one_of(
    GOOD_LAT,
    GOOD_LAT,
    GOOD_LAT,
    st.sampled_from([" ", "20.999", "25.5000001", "79.95", "123.1", "-91", "nan", "north", "1e400", " 23.1 "]),
    st.floats(20.5, 26).map(repr),
)
GOOD_LON = st.one_of(st.sampled_from(["79.95", "77.9", "83.0", ""]), st.floats(77.9, 83).map(repr))
LON = st.one_of(
    GOOD_LON,
    GOOD_LON,
    GOOD_LON,
    st.sampled_from([" ", "77.89", "83.01", "23.18", "181", "inf", "east", "२३", "-nan"]),
    st.floats(77, 84).map(repr),
)
GOOD_TEXT = st.sampled_from(["", "Ramesh", " Sita Verma ", "रमेश", "x" * 20])
TEXT = st.one_of(
    GOOD_TEXT,
    GOOD_TEXT,
    GOOD_TEXT,
    st.sampled_from([" ", "a\x00b", "x" * 200, "x" * 201, " " + "y" * 200 + " ", "x" * 60, "x" * 61, "x" * 21]),
    st.sampled_from(["x" * 400, "x" * 401, "\x00", " \x00 "]),
    st.text(max_size=8),
)


@st.composite
def row_sets(draw: st.DrawFn) -> tuple[dict[str, int], int, list[list[str]]]:
    """A header (which columns, in what order, with extra ones) and rows that may be short or long."""
    present = ["ivrs", *draw(st.lists(st.sampled_from(COLUMNS[1:]), unique=True))]
    extra = draw(st.integers(0, 2))
    order = draw(st.permutations(present + [f"extra{i}" for i in range(extra)]))
    columns = {name: index for index, name in enumerate(order) if name in COLUMNS}
    width = len(order)
    kinds = {"ivrs": IVRS, "sanctioned_load_kw": LOAD, "latitude": LAT, "longitude": LON}
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        cells = [draw(kinds.get(name, TEXT)) for name in order]
        shape = draw(st.sampled_from(["same"] * 6 + ["short", "long"]))
        if shape == "short":
            cells = cells[: draw(st.integers(1, width))]
        elif shape == "long":
            cells += ["surplus"] * draw(st.integers(1, 3))
        rows.append(cells)
    return columns, width, rows


def same(a: object, b: object) -> bool:
    """Equal, counting NaN equal to NaN (check() and check_many() must agree on NaN too)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@settings(max_examples=600, deadline=None)
@given(row_sets())
def test_check_many_agrees_with_check_row_by_row(case: tuple[dict[str, int], int, list[list[str]]]) -> None:
    columns, width, rows = case
    checker = RowChecker(columns, width, AREA)
    expected = [checker.check(list(cells)) for cells in rows]
    kept, got_columns, rejected = checker.check_many([list(cells) for cells in rows])
    assert len(got_columns) == len(COLUMNS)
    assert all(len(column) == len(kept) for column in got_columns)
    assert kept == [index for index, result in enumerate(expected) if isinstance(result, tuple)]
    assert rejected == [(index, result) for index, result in enumerate(expected) if isinstance(result, str)]
    for position, index in enumerate(kept):
        record = tuple(column[position] for column in got_columns)
        assert all(same(a, b) for a, b in zip(record, expected[index], strict=True)), (record, expected[index])


def test_check_many_of_well_formed_rows_takes_no_row_by_row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    checker = RowChecker({name: index for index, name in enumerate(COLUMNS)}, len(COLUMNS), AREA)
    rows = [[f"N{i:010d}", f"Name {i}", "", "Jabalpur", "LV-1", "" if i % 3 else "2.5", "23.18", "79.95"]
            for i in range(500)]  # fmt: skip
    rows += [[f"N{i:010d}", "No location", "", "", "", "1", "", ""] for i in range(500, 510)]
    monkeypatch.setattr(RowChecker, "check", lambda self, cells: pytest.fail("check() was called"))
    kept, columns, rejected = checker.check_many(rows)
    assert len(kept) == 510 and rejected == []
    assert columns[5][:4] == [2.5, None, None, 2.5] and columns[6][-1] is None and columns[2][0] is None


def test_spatial_columns_of_rows_without_a_location() -> None:
    cells, ux, uy, uz = spatial_columns([None, 23.18], [None, 79.95])
    assert cells == [None, geo.cell_of(23.18, 79.95)] and ux[0] is uy[0] is uz[0] is None


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


TRICKY_CSV = (
    "title line\n"
    "ivrs,name,address,latitude,longitude\r\n"
    'N0000000001,A,"two\nlines",23.1,79.9\n'
    "\n"
    ",,,,\n"
    "N0000000003,C\x00,,23.1,79.9\n"
    'N0000000004,"quoted ""name""",x,,\n'
    "N0000000005,E,\"three\r\nline\raddress\",23.1,79.9\n"
    "   \n"
    "N0000000006,F,,23.1\n"
    "N0000000007,G,,23.1,79.9,surplus\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 500])
def test_row_batches_give_what_rows_gives(tmp_path: Path, size: int) -> None:
    csv_file = write(tmp_path / "register.csv", TRICKY_CSV + 'N0000000008,"open quote,,,\n' + "N9,x,,1,2\n" * 3)
    one_by_one = open_register(csv_file)
    in_batches = open_register(csv_file)
    try:
        expected = list(one_by_one.rows())
        batches = list(in_batches.row_batches(size))
    finally:
        one_by_one.close()
        in_batches.close()
    assert all(len(rows) == size for _, rows in batches[:-1]) and 0 < len(batches[-1][1]) <= size
    assert [(line, cells) for lines, rows in batches for line, cells in zip(lines, rows, strict=True)] == expected
    assert [line for line, _ in expected][:7] == [3, 6, 7, 8, 9, 13, 14]


@pytest.mark.parametrize("batch_size", [1, 3, 7, 5000])
def test_batches_hold_every_row_once_in_file_order(tmp_path: Path, batch_size: int) -> None:
    csv_file = write(tmp_path / "register.csv", TRICKY_CSV)
    register = open_register(csv_file)
    try:
        batches = list(read_batches(register, AREA, batch_size))
    finally:
        register.close()
    assert sum(batch.rows_read for batch in batches) == 7
    assert sum(batch.progress for batch in batches) == csv_file.stat().st_size
    assert [line for batch in batches for line in batch.lines] == [3, 8, 9, 14]
    assert [(row.line, row.kind) for batch in batches for row in batch.skipped] == [
        (6, "missing IVRS"),
        (7, "unreadable row"),
        (13, "bad coordinates"),
    ]
    ivrs = [key for batch in batches for key in batch.columns[0]]
    assert ivrs == ["N0000000001", "N0000000004", "N0000000005", "N0000000007"]
    names = [name for batch in batches for name in batch.columns[1]]
    assert names == ["A", 'quoted "name"', "E", "G"]
    assert all(len(column) == len(batch.lines) for batch in batches for column in batch.columns)


async def test_the_reader_process_sends_the_batches_read_in_process(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "register.csv", TRICKY_CSV)
    register = open_register(csv_file)
    try:
        local = list(read_batches(register, AREA, 2))
    finally:
        register.close()
    remote = [batch async for batch in _batches_from_worker([csv_file], AREA, 2)]
    assert [vars(batch) for batch in remote] == [vars(batch) for batch in local]


async def test_a_reader_process_that_dies_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = "ivrs,name\n" + "".join(f"N{i:010d},x\n" for i in range(50))
    csv_file = write(tmp_path / "register.csv", lines)
    real_popen = subprocess.Popen

    def dying(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        # The reader sends one batch, then a header promising more bytes than follow, and exits.
        script = (
            "import sys; from storage.consumer_batches import ParsedBatch, _send; out = sys.stdout.buffer;"
            "_send(out, ParsedBatch('f')); out.write(b'\\x00' + (10**6).to_bytes(8, 'little') + b'partial');"
            "out.flush(); sys.stdin.buffer.read(); sys.exit(3)"
        )
        return real_popen([args[0], "-c", script], **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", dying)
    received: list[ParsedBatch] = []
    with pytest.raises(RuntimeError, match=r"the reader process stopped unexpectedly \(exit code 3\)"):
        async for batch in _batches_from_worker([csv_file], AREA, 10):
            received.append(batch)
    assert [batch.file for batch in received] == ["f"]


def test_sent_items_read_back(tmp_path: Path) -> None:
    path = tmp_path / "stream"
    batch = ParsedBatch("f", [2], [["N1"], ["x"], *([[None]] * 10)], [], 1, 5, "B", 9, ["a note"])
    with path.open("wb") as out:
        _send(out, batch)
        _send(out, None, last=True)
    items = []
    with path.open("rb") as stream:
        while head := stream.read(_HEADER.size):
            last, length = _HEADER.unpack(head)
            items.append((last, pickle.loads(stream.read(length))))
    assert [(last, vars(item) if item else item) for last, item in items] == [(False, vars(batch)), (True, None)]
