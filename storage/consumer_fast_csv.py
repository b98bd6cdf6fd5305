"""Reading the clean stretches of a CSV register with pyarrow, four times faster than the csv module.

A register exported from a billing system is almost always clean: one row per line, UTF-8,
no blank lines. Such a file is read here a block of whole lines at a time, and a block is
used only when pyarrow's rows are provably the csv module's rows:

* as many rows as lines, none of them with the wrong number of cells, so no quoted value
  spans two lines and the row on line k is the block's k-th row;
* only "\\r\\n" or "\\n" line endings, valid UTF-8, no line past the csv module's field size limit;
* no line break inside the block's last row (an unclosed quote there would go on into the
  next block for the csv module).

At the first block that is not clean, reading stops, and storage/consumer_rows.py goes on
from that block's first line with the csv module. Tests hold both readers to the same rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

Columns = list[list[str] | None]  # one list of cells per column of the file; None for a column not needed

BLOCK_BYTES = 1 << 20  # a block is about 10,000 register rows
MAX_LINE_BYTES = 16 << 20  # a longer line is left to the csv module (which refuses it as too large)


class FastCsv:
    """The clean leading stretch of a CSV file after its header, as columns; offset and line say where it ends."""

    def __init__(self, binary: BinaryIO, offset: int, line: int, delimiter: str, width: int, needed: list[int]):
        self.binary = binary
        self.offset = offset  # the first byte not read here
        self.line = line  # the last physical line read here (the header's, before any block)
        self.delimiter = delimiter
        self.width = width
        self.needed = sorted(set(needed))  # the columns given back; the others come back as None
        self.finished = False  # True when the whole file was clean

    def batches(self, size: int) -> Iterator[tuple[range, Columns]]:
        """Rows in batches of at most size: their line numbers, and one list of cells per needed column."""
        for table in self._clean_blocks():
            first_line = self.line + 1
            for start in range(0, table.num_rows, size):
                part = table.slice(start, size)
                columns: Columns = [None] * self.width
                for index in self.needed:
                    columns[index] = part.column(index).to_pylist()
                yield range(first_line + start, first_line + start + part.num_rows), columns
            self.line += table.num_rows

    def _clean_blocks(self) -> Iterator[object]:
        """pyarrow tables of consecutive clean blocks; self.offset moves past each one as it is taken."""
        self.binary.seek(self.offset)
        carry = b""
        while True:
            chunk = self.binary.read(BLOCK_BYTES)
            data = carry + chunk if carry else chunk
            if not chunk:
                if data:
                    table = self._parse(data)
                    if table is None:
                        return
                    yield table
                    self.offset += len(data)
                self.finished = True
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    return
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            table = self._parse(block)
            if table is None:
                return
            yield table
            self.offset += len(block)

    def _parse(self, block: bytes) -> object | None:
        """The block's rows as a pyarrow table of strings, or None when the block is not clean."""
        import numpy as np  # here: only the import of a file needs them
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n"))
        lines = len(ends) + (0 if block.endswith(b"\n") else 1)
        # No field is longer than its line: lines within the csv module's field limit are safe.
        longest = int(np.diff(ends, prepend=-1, append=len(block)).max())
        if longest > csv.field_size_limit():
            return None
        if block.count(b"\r") != block.count(b"\r\n"):
            return None  # a lone "\r" ends a line for the csv module
        if not block.isascii():
            try:
                block.decode("utf-8")  # checked here: pyarrow would choke on a bad row's text
            except UnicodeDecodeError:
                return None
        invalid: list[object] = []
        names = [f"c{i}" for i in range(self.width)]
        try:
            table = pa_csv.read_csv(
                pa.BufferReader(block),
                read_options=pa_csv.ReadOptions(column_names=names, use_threads=False, block_size=len(block) + 1),
                parse_options=pa_csv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=False,
                    invalid_row_handler=lambda row: invalid.append(row) or "skip",
                ),
                convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
                memory_pool=pa.system_memory_pool(),  # malloc gives the blocks' memory back; mimalloc keeps it
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if invalid or table.num_rows != lines:
            return None
        if lines and any("\n" in value or "\r" in value for value in table.slice(lines - 1).to_pylist()[0].values()):
            return None
        return table
