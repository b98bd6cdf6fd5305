"""`run_bot.py payouts export|mark-paid`: the bank-file round trip of the accounts team.

payouts export [--date YYYY-MM-DD] [--out DIR]   the ledger's waiting payouts -> a NEFT/IMPS bulk-upload CSV
payouts export --reprint BATCH                   write a batch's file again (nothing new is exported)
payouts mark-paid FILE                           the bank's response (customer_reference, utr, status) -> paid/failed
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from bot.cli.database import open_database
from bot.config import Settings
from bot.rewards.crypto import BankKeyMissing
from bot.rewards.notices import rupees
from bot.rewards.payouts.bank_file import export_batch, export_dir, mark_paid, write_batch
from storage.models import utcnow
from storage.repositories import AuditRepository


def register(sub: Any) -> None:
    """Add the payouts subcommands."""
    payouts = sub.add_parser("payouts", help="bank-file payouts: export the bulk-upload file, record the bank's UTRs")
    actions = payouts.add_subparsers(dest="payouts_command", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write the NEFT/IMPS bulk-upload CSV of every payout waiting")
    export.add_argument("--date", type=date.fromisoformat, help="the batch's day (default: today, UTC)")
    export.add_argument("--out", type=Path, help="folder for the file (default: data_dir/rewards.bank_file.dir)")
    export.add_argument("--reprint", metavar="BATCH", help="write an earlier batch's file again")
    export.set_defaults(handler=export_command)
    marked = actions.add_parser("mark-paid", help="complete payouts from the bank's response file")
    marked.add_argument("file", type=Path, help="CSV with customer_reference, utr, status (SUCCESS/FAILED), reason")
    marked.set_defaults(handler=mark_paid_command)


async def export_command(args: argparse.Namespace, settings: Settings) -> int:
    """Export the waiting payouts (or reprint a batch) as a bulk-upload CSV."""
    if settings.rewards.provider != "bank-file":
        print(f"rewards.provider is {settings.rewards.provider}: there is no bank file to export.")
        return 2
    directory = args.out or export_dir(settings)
    database = open_database(settings)
    try:
        await database.upgrade()
        if args.reprint:
            written = await write_batch(database, settings, args.reprint, directory)
            if written is not None:
                async with database.transaction() as session:
                    await AuditRepository(session).record("admin", "payouts.reprint", args.reprint, count=written.count)
        else:
            written = await export_batch(database, settings, args.date or utcnow().date(), directory)
    except BankKeyMissing as exc:
        print(f"Cannot read bank details: {exc}.")
        return 2
    finally:
        await database.dispose()
    if written is None:
        print(f"No batch {args.reprint}." if args.reprint else "No payouts are waiting; no file written.")
        return 2 if args.reprint else 0
    print(f"Batch {written.batch}: {written.count} payouts, Rs {rupees(written.total_paise)} -> {written.path}")
    print("The file holds full account numbers: upload it to the bank, then keep it safe or delete it.")
    return 0


async def mark_paid_command(args: argparse.Namespace, settings: Settings) -> int:
    """Record the bank's response file."""
    if not args.file.is_file():
        print(f"{args.file}: no such file.")
        return 2
    database = open_database(settings)
    try:
        await database.upgrade()
        report = await mark_paid(database, settings, args.file)
    finally:
        await database.dispose()
    print(
        f"Paid: {report.count('paid')}, failed: {report.count('failed')}, "
        f"already recorded: {report.count('unchanged')}, not ours: {report.count('unknown')}."
    )
    for problem in report.problems:
        print(f"  {problem}")
    return 1 if report.count("unknown") or report.count("not_exported") else 0
