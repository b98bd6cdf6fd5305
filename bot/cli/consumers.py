"""`run_bot.py import-consumers` and `run_bot.py demo-data`: fill the consumer register."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bot.cli.database import open_database
from bot.config import Settings
from bot.service_area import service_area_for
from storage.consumer_import import ImportReport, import_consumers
from storage.consumer_rows import ImportFileError

PROGRESS_MIN_BYTES = 1_000_000  # smaller files finish before a progress bar would say anything


def register(sub: Any) -> None:
    """Add the import-consumers and demo-data subcommands."""
    imp = sub.add_parser(
        "import-consumers",
        help="import the consumer register from CSV or .xlsx files (upsert by IVRS)",
        description="Import consumer register files (CSV or .xlsx). Rows are upserted by IVRS; "
        "every row left out is reported with its line number and the reason.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--max-report", type=int, default=50, metavar="N", help="skipped rows to list (default 50)")
    imp.add_argument("--skipped-csv", type=Path, metavar="PATH", help="write every skipped row to this CSV file")
    imp.add_argument("--batch-size", type=int, default=5000, metavar="N", help="rows per database batch")
    imp.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: for large files on a terminal)",
    )
    imp.set_defaults(handler=import_command)

    demo = sub.add_parser(
        "demo-data",
        help="fill the register with synthetic consumers (or write them to a CSV file)",
        description="Generate a realistic synthetic consumer register around the towns of the region. "
        "The same seed always gives the same consumers.",
    )
    demo.add_argument("--consumers", type=int, required=True, metavar="N", help="how many consumers")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo.add_argument("--csv", type=Path, metavar="PATH", help="write a CSV file instead of filling the database")
    demo.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show a progress bar")
    demo.set_defaults(handler=demo_command)


def _want_progress(asked: bool | None, size_bytes: int) -> bool:
    if asked is not None:
        return asked
    return sys.stderr.isatty() and size_bytes >= PROGRESS_MIN_BYTES


def format_report(report: ImportReport, max_rows: int = 50) -> str:
    """The report as printed by import-consumers: totals, skipped rows by reason, the first skipped rows."""
    rate = f", {report.rows_per_second:,.0f} rows/s" if report.seconds >= 0.05 else ""
    lines = [
        f"Read {report.rows_read:,} rows in {report.seconds:.1f} s{rate}.",
        f"  imported (new IVRS):      {report.imported:,}",
        f"  updated (IVRS known):     {report.updated:,}",
        f"  skipped:                  {report.skipped_total:,}",
    ]
    for kind, count in sorted(report.skipped_by_kind.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {kind}: {count:,}")
    if report.indexes_rebuilt:
        lines.append("  (bulk load into an empty table: indexes and cell counts were built once, at the end)")
    shown = report.skipped[: max(0, max_rows)]
    if shown:
        several_files = len(report.files) > 1
        lines.append("Skipped rows:")
        for row in shown:
            where = f"{Path(row.file).name}:{row.line}" if several_files else f"line {row.line}"
            lines.append(f"  {where}: {row.reason}" + (f" [IVRS {row.ivrs}]" if row.ivrs else ""))
    hidden = report.skipped_total - len(shown)
    if hidden > 0:
        lines.append(f"  ... and {hidden:,} more (list them all with --skipped-csv PATH, or raise --max-report)")
    lines.extend(f"Note: {note}" for note in report.notes)
    return "\n".join(lines)


async def import_command(args: argparse.Namespace, settings: Settings) -> int:
    """Import the files named on the command line and print the report."""
    if args.batch_size < 1:
        print("--batch-size must be at least 1", file=sys.stderr)
        return 2
    size = sum(path.stat().st_size for path in args.files if path.is_file())
    area = service_area_for(settings.service_area)  # district boundaries when configured, else the box
    database = open_database(settings)
    try:
        await database.upgrade()
        report = await import_consumers(
            database,
            args.files,
            service_area=area,
            progress=_want_progress(args.progress, size),
            batch_size=args.batch_size,
            skipped_csv=args.skipped_csv,
        )
    except ImportFileError as exc:
        print(f"Cannot import: {exc}", file=sys.stderr)
        return 1
    finally:
        await database.dispose()
    print(format_report(report, args.max_report))
    if args.skipped_csv:
        print(f"Every skipped row is in {args.skipped_csv}.")
    return 0


async def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Write the demo register to a CSV file, or load it into the database."""
    from storage.demo_register import load_demo_register, write_demo_csv  # numpy-heavy: only when asked

    if args.consumers < 0:
        print("--consumers cannot be negative", file=sys.stderr)
        return 2
    progress = _want_progress(args.progress, args.consumers * 100)
    if args.csv:
        started = time.perf_counter()
        written = write_demo_csv(args.csv, args.consumers, args.seed, progress=progress)
        seconds = time.perf_counter() - started
        print(f"Wrote {written:,} demo consumers (seed {args.seed}) to {args.csv} in {seconds:.1f} s.")
        return 0
    database = open_database(settings)
    try:
        await database.upgrade()
        report = await load_demo_register(
            database, args.consumers, args.seed, settings.service_area.bounding_box, progress=progress
        )
    finally:
        await database.dispose()
    print(f"Demo register (seed {args.seed}):")
    print(format_report(report, 10))
    return 0
