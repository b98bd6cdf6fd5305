"""pyarrow's reading of a register's clean stretches gives exactly the csv module's rows, or hands over to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import ServiceAreaSettings
from storage import consumer_fast_csv
from storage.consumer_batches import ParsedBatch, read_batches
from storage.consumer_rows import open_register
from storage.demo_register import write_demo_csv

AREA = ServiceAreaSettings().bounding_box
HEADER = b"ivrs,name,address,sanctioned_load_kw,latitude,longitude,feeder\r\n"

CLEAN_CELL = st.sampled_from(["N3330008565", "S1234567890", "Ramesh", "23.18", "79.95", "1.5", "", "LV-1", "x y"])
ODD_CELL = st.one_of(
    st.sampled_from(['"a,b"', '"say ""hi"""', 'a"b', '"ab"cd', '"open', "  ", "\x00", "रमेश", '"two\nlines"', "\r"]),
    st.text(alphabet=',"\r\n ab1.é\x00', max_size=6),
)


def mostly(usual: st.SearchStrategy[str], odd: st.SearchStrategy[str], one_in: int) -> st.SearchStrategy[str]:
    """usual, and odd about once in one_in draws."""
    return st.tuples(st.sampled_from([False] * (one_in - 1) + [True]), usual, odd).map(lambda t: t[2] if t[0] else t[1])


CELL = mostly(CLEAN_CELL, ODD_CELL, 40)
ROW = st.lists(CELL, min_size=7, max_size=7).map(",".join)  # as many cells as the header
LINE = mostly(ROW, st.lists(CELL, min_size=1, max_size=9).map(",".join), 30)
ENDING = mostly(st.just("\n"), st.sampled_from(["\r\n", "\r", "\n\n"]), 20)


def read(path: Path, *, fast: bool, batch_size: int) -> list[ParsedBatch]:
    register = open_register(path, fast=fast)
    try:
        return list(read_batches(register, AREA, batch_size))
    finally:
        register.close()


def comparable(batches: list[ParsedBatch]) -> tuple[Any, ...]:
    """What the batches hold together (where one batch ends and the next begins may differ)."""
    columns = [[value for batch in batches for value in batch.columns[i]] for i in range(len(batches[0].columns))]
    return (
        [line for batch in batches for line in batch.lines],
        columns,
        [row for batch in batches for row in batch.skipped],
        sum(batch.rows_read for batch in batches),
        [note for batch in batches for note in batch.notes],
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.tuples(LINE, ENDING), max_size=30),
    bad_bytes=st.booleans(),
    block=st.sampled_from([40, 200, 1 << 20]),
    batch_size=st.sampled_from([1, 4, 5000]),
)
def test_any_file_gives_the_csv_modules_rows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[tuple[str, str]],
    bad_bytes: bool,
    block: int,
    batch_size: int,
) -> None:
    body = "".join(line + ending for line, ending in lines).encode()
    if bad_bytes and body:
        body = body[: len(body) // 2] + b"\x96caf\xe9" + body[len(body) // 2 :]  # cp1252, not UTF-8
    path = tmp_path / "register.csv"
    path.write_bytes(HEADER + body)
    monkeypatch.setattr(consumer_fast_csv, "BLOCK_BYTES", block)  # small blocks: a hand-over mid-file
    expected = read(path, fast=False, batch_size=batch_size)
    assert comparable(read(path, fast=True, batch_size=batch_size)) == comparable(expected)


def test_a_clean_file_is_read_by_pyarrow_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "demo.csv"
    write_demo_csv(path, 30_000, seed=3)
    register = open_register(path)
    try:
        batches = list(register.cell_batches(5000))
        assert register._go_fast is None  # it went fast
    finally:
        register.close()
    assert all(rows is None and columns is not None for _, rows, columns in batches)
    assert [line for lines, _, _ in batches for line in lines] == list(range(2, 30_002))
    assert comparable(read(path, fast=True, batch_size=5000)) == comparable(read(path, fast=False, batch_size=5000))


def test_the_csv_module_takes_over_at_the_first_block_that_is_not_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"N{i:010d},Consumer {i},Ward {i},1.5,23.1,79.9,F{i}" for i in range(200)]
    rows[150] = 'N0000000150,"Two\nline name",Ward,1.5,23.1,79.9,F'
    path = tmp_path / "register.csv"
    path.write_bytes(HEADER + "\n".join(rows).encode() + b"\n")
    monkeypatch.setattr(consumer_fast_csv, "BLOCK_BYTES", 1000)
    register = open_register(path)
    try:
        batches = list(register.cell_batches(50))
    finally:
        register.close()
    by_pyarrow = [line for lines, rows_, _ in batches if rows_ is None for line in lines]
    by_csv = [line for lines, rows_, _ in batches if rows_ is not None for line in lines]
    assert by_pyarrow == list(range(2, 2 + len(by_pyarrow))) and 100 < len(by_pyarrow) < 150
    assert by_csv[0] == by_pyarrow[-1] + 1 and by_csv[-1] == 202  # the two-line row takes lines 152 and 153
    assert len(by_pyarrow) + len(by_csv) == 200
