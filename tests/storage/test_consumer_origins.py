"""RowOrigins: the file and line of each id a bulk load wrote, found again by id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.consumer_origins import RowOrigins

# A batch: the gap in ids before it (ids taken by others), its file, and the line steps between its rows.
batches = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["a.csv", "b.csv"]), st.lists(st.integers(1, 3), max_size=12)),
    max_size=8,
)


@given(batches)
def test_every_id_written_finds_its_file_and_line_and_no_other_id_finds_one(batches: list) -> None:
    origins = RowOrigins()
    expected: dict[int, tuple[str, int]] = {}
    next_id, line = 1, 1
    for gap, file, steps in batches:
        first = next_id + gap
        lines = []
        for step in steps:
            line += step
            lines.append(line)
        ids = range(first, first + len(lines))
        origins.add(ids, file, lines)
        expected.update({row_id: (file, at) for row_id, at in zip(ids, lines, strict=True)})
        next_id = first + len(lines)
    for row_id in range(0, next_id + 3):
        assert origins.find(row_id) == expected.get(row_id)


def test_a_batch_of_consecutive_lines_keeps_only_its_first_line() -> None:
    origins = RowOrigins()
    origins.add(range(1, 5001), "register.csv", list(range(2, 5002)))
    origins.add(range(5001, 5004), "register.csv", [5003, 5007, 5008])
    assert origins._batches == [(5000, "register.csv", 2), (3, "register.csv", origins._batches[1][2])]
    assert list(origins._batches[1][2]) == [5003, 5007, 5008]  # type: ignore[arg-type]
    assert (origins.find(5000), origins.find(5002), origins.find(5004)) == (
        ("register.csv", 5001),
        ("register.csv", 5007),
        None,
    )


def test_ids_must_match_the_lines_and_come_in_order() -> None:
    origins = RowOrigins()
    with pytest.raises(ValueError, match="2 lines"):
        origins.add(range(1, 4), "a.csv", [2, 3])
    origins.add(range(10, 12), "a.csv", [2, 3])
    with pytest.raises(ValueError, match="come before"):
        origins.add(range(5, 6), "a.csv", [4])
