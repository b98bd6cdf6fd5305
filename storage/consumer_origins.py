"""Where each row of an import came from, found again by the id it was stored under.

A PostgreSQL bulk load checks the IVRS key only once at the end (see
storage/consumer_writer_postgres.py); the rows it then finds stored twice are known by id, and
the report names them by file and line, like every other skipped row.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence


class RowOrigins:
    """The file and line of each id written, one entry per batch (a batch's ids are consecutive).

    A batch's lines are usually consecutive too, and then only the first is kept; otherwise
    they take 4 bytes a row (20 MB for 5 million rows of a file that skips every other line).
    """

    def __init__(self) -> None:
        self._first_ids: list[int] = []
        self._batches: list[tuple[int, str, int | array]] = []  # (rows, file, first line or every line)

    def add(self, ids: range, file: str, lines: Sequence[int]) -> None:
        """Record that the rows at these lines of file were stored under ids, in order."""
        if len(ids) != len(lines) or ids.step != 1:
            raise ValueError(f"{len(lines)} lines for ids {ids}")
        if not lines:
            return
        if self._first_ids and ids.start < self._first_ids[-1]:
            raise ValueError(f"ids {ids} come before those of the batch before")
        first = lines[0]
        consecutive = list(lines) == list(range(first, first + len(lines)))
        self._first_ids.append(ids.start)
        self._batches.append((len(ids), file, first if consecutive else array("I", lines)))

    def find(self, row_id: int) -> tuple[str, int] | None:
        """The file and line the row stored under row_id came from, or None if this import did not write it."""
        index = bisect_right(self._first_ids, row_id) - 1
        if index < 0:
            return None
        offset = row_id - self._first_ids[index]
        rows, file, lines = self._batches[index]
        if offset >= rows:
            return None
        return file, (lines + offset if isinstance(lines, int) else lines[offset])
