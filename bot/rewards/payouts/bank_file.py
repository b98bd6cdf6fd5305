"""The bank-file provider: payouts wait in a ledger; the accounts team uploads a bulk file to the bank.

    reward paying + Payout pending        in the ledger (the watch put it there)
    `payouts export`  -> Payout processing in batch YYYYMMDD-NN, written to <data_dir>/payouts/neft-<batch>.csv
    `payouts mark-paid FILE` (the bank's response: customer_reference, utr, status[, reason])
                      -> SUCCESS: reward paid with the UTR;  FAILED: reward failed, citizen asked to fix details

Each payout is exported once (a guarded pending -> processing UPDATE), and its customer reference is
its idempotency key, so a file uploaded twice is refused row by row by the bank's duplicate check.
The export is committed before the file is written: if writing fails, `payouts export --reprint BATCH`
writes the same file again. The file holds full account numbers: it is created readable by its owner only.
"""

from __future__ import annotations

import asyncio
import csv
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.config import Settings
from bot.rewards.bank import unseal
from bot.rewards.crypto import bank_cipher
from bot.rewards.payments import apply_result
from bot.rewards.payouts.base import PayoutOrder, PayoutResult, PayoutStatus
from storage.db import Database
from storage.models import Reward, utcnow
from storage.repositories import AuditRepository, RewardRepository
from storage.repositories.bank_accounts import BankAccountRepository

PROVIDER = "bank-file"
EXPORT_FIELDS = (
    "payment_mode",
    "customer_reference",
    "beneficiary_name",
    "beneficiary_account",
    "ifsc",
    "amount",
    "debit_account",
    "value_date",
    "narration",
)
PAID_WORDS = {"SUCCESS", "PAID", "PROCESSED", "COMPLETED", "EXECUTED"}
FAILED_WORDS = {"FAILED", "FAILURE", "REJECTED", "RETURNED", "REVERSED"}


class BankFileProvider:
    """Payouts are settled by the accounts team's bulk upload, not by an API call."""

    name = PROVIDER

    async def prepare(self, order: PayoutOrder) -> str | None:
        """Nothing to register: the file carries the account."""
        return None

    async def pay(self, order: PayoutOrder) -> PayoutResult:
        """The Payout row already is the ledger entry; it waits for the next export."""
        return PayoutResult(PayoutStatus.QUEUED)

    async def status(self, order: PayoutOrder) -> PayoutResult:
        """Still waiting for the bank's response file."""
        return PayoutResult(PayoutStatus.QUEUED)

    async def close(self) -> None:
        """Nothing to release."""
        return None


def export_dir(settings: Settings) -> Path:
    """Where bulk-upload files are written."""
    path = Path(settings.rewards.bank_file.dir)
    return path if path.is_absolute() else Path(settings.data_dir) / path


def rupees_plain(paise: int) -> str:
    """Paise as the bank file wants rupees: 1250.00, no separators."""
    return f"{paise // 100}.{paise % 100:02d}"


@dataclass(frozen=True)
class BatchFile:
    batch: str
    path: Path
    count: int
    total_paise: int


async def export_batch(db: Database, settings: Settings, day: date, directory: Path) -> BatchFile | None:
    """Put every payout waiting in the ledger into a new batch of the day and write its file; None if none."""
    now = utcnow()
    async with db.transaction() as session:
        rewards = RewardRepository(session)
        waiting = await rewards.payouts_to_export(PROVIDER)
        if not waiting:
            return None
        prefix = f"{day:%Y%m%d}-"
        batch = f"{prefix}{len(await rewards.batches_like(prefix)) + 1:02d}"
        exported = [payout for payout in waiting if await rewards.mark_exported(payout.id, batch, now)]
        total = sum(payout.amount_paise for payout in exported)
        await AuditRepository(session).record("admin", "payouts.export", batch, count=len(exported), total_paise=total)
    return await write_batch(db, settings, batch, directory)


async def write_batch(db: Database, settings: Settings, batch: str, directory: Path) -> BatchFile | None:
    """Write (or write again) the bulk-upload file of a batch: the payouts in it that await the bank."""
    cipher = bank_cipher(settings)
    options = settings.rewards.bank_file
    rows: list[dict[str, str]] = []
    total = 0
    async with db.reader() as session:
        payouts = await RewardRepository(session).payouts_in_batch(batch)
        for payout in payouts:
            if payout.state != "processing":
                continue
            reward = await session.get(Reward, payout.reward_id)
            sealed = (
                await BankAccountRepository(session).of(reward.citizen_id) if reward and reward.citizen_id else None
            )
            if sealed is None:
                continue  # the informant erased their data after the export; the row cannot be paid
            details = unseal(cipher, sealed)
            total += payout.amount_paise
            rows.append(
                {
                    "payment_mode": options.payment_mode,
                    "customer_reference": payout.idempotency_key,
                    "beneficiary_name": details.holder,
                    "beneficiary_account": details.account_number,
                    "ifsc": details.ifsc,
                    "amount": rupees_plain(payout.amount_paise),
                    "debit_account": options.debit_account or "",
                    "value_date": (payout.exported_at or utcnow()).strftime("%d/%m/%Y"),
                    "narration": f"VMitra reward {payout.reward_id}",
                }
            )
    if not payouts:
        return None
    path = directory / f"{options.payment_mode.lower()}-{batch}.csv"
    await asyncio.to_thread(_write_csv, path, rows)
    return BatchFile(batch=batch, path=path, count=len(rows), total_paise=total)


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    scratch.replace(path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@dataclass
class BankResponse:
    """What `payouts mark-paid` did with the bank's file."""

    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """How many rows ended with this outcome."""
        return self.outcomes.get(outcome, 0)


def _field(row: dict[str, str], *names: str) -> str:
    lowered = {(key or "").strip().lower().replace(" ", "_"): (value or "").strip() for key, value in row.items()}
    for name in names:
        if lowered.get(name):
            return lowered[name]
    return ""


async def mark_paid(db: Database, settings: Settings, path: Path) -> BankResponse:
    """Complete exported payouts from the bank's response file; running it twice changes nothing more."""
    report = BankResponse()
    rows = await asyncio.to_thread(_read_csv, path)
    for line, row in enumerate(rows, start=2):
        key = _field(row, "customer_reference", "reference", "customer_ref", "cust_ref_no")
        utr = _field(row, "utr", "utr_no", "utr_number", "bank_reference")
        status = _field(row, "status", "transaction_status").upper()
        reason = _field(row, "reason", "remarks", "failure_reason") or "rejected by the bank"
        if status in PAID_WORDS:
            if not utr:
                report.problems.append(f"line {line}: {key or '?'} is marked {status} but has no UTR")
                continue
            result = PayoutResult(PayoutStatus.PAID, utr=utr)
        elif status in FAILED_WORDS:
            result = PayoutResult(PayoutStatus.FAILED, reason=f"bank: {reason}")
        else:
            report.problems.append(f"line {line}: {key or '?'} has status {status or 'none'}; left as it is")
            continue
        async with db.transaction() as session:
            payout = await RewardRepository(session).payout_by_key(key) if key else None
            if payout is None or payout.provider != PROVIDER:
                outcome = "unknown"
            elif payout.state == "pending":
                outcome = "not_exported"
            else:
                outcome = await apply_result(session, settings, key, result)
        if outcome in ("unknown", "not_exported"):
            report.problems.append(f"line {line}: {key or '?'}: {outcome.replace('_', ' ')}")
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    async with db.transaction() as session:
        await AuditRepository(session).record("admin", "payouts.mark_paid", path.name, **report.outcomes)
    return report
