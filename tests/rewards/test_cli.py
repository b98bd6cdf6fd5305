"""The admin commands: appeals from the command line, the bank-file round trip, rewards list.

`run_bot.py` is started as a real process for the appeals; the other commands run the same entry point
(`bot.cli.main`) in a thread, which is quicker than a new interpreter.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.cli import main
from bot.config import Settings
from storage.models import utcnow
from storage.repositories.rewards import payout_key
from tests.rewards.helpers import GOOD_BANK, payouts_per_reward, pushes, seed_rewards, states, write_config

ROOT = Path(__file__).resolve().parents[2]


async def run_bot(config: Path, *argv: str) -> tuple[int, str]:
    """`python run_bot.py --config CONFIG ...` in a real process: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run_bot.py",
        "--config",
        str(config),
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def cli(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str]:
    """The same command line, run in a thread of this process (quicker than a new interpreter)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--config", str(config), *argv])
    return code, capsys.readouterr().out


@pytest.fixture
def config(tmp_path: Path, settings: Settings, runtime: Runtime) -> Path:
    return write_config(tmp_path / "cli.yaml", settings, runtime.db.url)


async def test_appeals_from_the_command_line_hold_then_release_or_cancel(
    runtime: Runtime, settings: Settings, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime.rewards is not None
    kept, dropped = await seed_rewards(runtime.db, settings, 2, due_at=utcnow() + timedelta(minutes=5))

    held = await asyncio.gather(
        run_bot(config, "rewards", "appeal", str(kept)), run_bot(config, "rewards", "appeal", str(dropped))
    )
    assert [code for code, _ in held] == [0, 0], held
    assert f"Reward {kept} (Rs 1,250.00) is held for the appeal" in held[0][1]
    assert await states(runtime.db) == {"held": 2}
    assert len(await pushes(runtime.db, "is on hold: an appeal was filed")) == 2

    released = await cli(capsys, config, "rewards", "release", str(kept))
    cancelled = await cli(capsys, config, "rewards", "cancel", str(dropped))
    decided = [released, cancelled]
    assert [code for code, _ in decided] == [0, 0], decided
    assert "due: it will be paid at once" in decided[0][1] and "is cancelled" in decided[1][1]
    assert await states(runtime.db) == {"due": 1, "cancelled": 1}
    assert len(await pushes(runtime.db, "decided in favour of the finding")) == 1
    assert len(await pushes(runtime.db, "was upheld, so the reward")) == 1

    code, out = await cli(capsys, config, "rewards", "appeal", str(dropped))
    assert code == 2 and f"Reward {dropped} is cancelled" in out
    code, out = await cli(capsys, config, "rewards", "list", "--json")
    listed = {row["id"]: row for row in json.loads(out)}
    assert listed[kept]["state"] == "due" and listed[kept]["appeal_outcome"] == "company"
    assert listed[dropped]["state"] == "cancelled" and listed[dropped]["appeal_outcome"] == "appellant"
    assert listed[kept]["amount_paise"] == 125_000 and listed[kept]["complaint"].startswith("VM-")
    assert "phone" not in out and GOOD_BANK.account_number not in out


async def test_bank_file_export_and_mark_paid_round_trip(
    runtime: Runtime, settings: Settings, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime.rewards is not None
    ids = await seed_rewards(runtime.db, settings, 3, due_at=utcnow(), state="due")
    sweep = await runtime.rewards.sweep()
    assert sweep.count("queued") == 3 and await states(runtime.db) == {"paying": 3}

    code, out = await cli(capsys, config, "payouts", "export", "--date", "2026-12-05")
    assert code == 0 and "Batch 20261205-01: 3 payouts, Rs 3,750.00" in out
    path = Path(settings.data_dir) / "payouts" / "neft-20261205-01.csv"
    assert path.stat().st_mode & 0o077 == 0
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["customer_reference"] for row in rows) == sorted(payout_key(i, 1) for i in ids)
    assert rows[0] | {"customer_reference": "", "narration": "", "value_date": ""} == {
        "payment_mode": "NEFT",
        "customer_reference": "",
        "beneficiary_name": "Ravi Kumar",
        "beneficiary_account": "123456789012",
        "ifsc": "SBIN0001234",
        "amount": "1250.00",
        "debit_account": "",
        "value_date": "",
        "narration": "",
    }
    code, out = await cli(capsys, config, "payouts", "export", "--date", "2026-12-05")
    assert code == 0 and "No payouts are waiting" in out  # each payout goes into one file only
    path.unlink()
    code, out = await cli(capsys, config, "payouts", "export", "--reprint", "20261205-01")
    assert code == 0 and path.exists() and "3 payouts" in out

    response = tmp_path / "bank-response.csv"
    response.write_text(
        "Customer Reference,UTR,Status,Reason\n"
        f"{payout_key(ids[0], 1)},SBIN626340000001,SUCCESS,\n"
        f"{payout_key(ids[1], 1)},SBIN626340000002,SUCCESS,\n"
        f"{payout_key(ids[2], 1)},,FAILED,Account closed\n"
        "vm-reward-999-1,SBIN626340000003,SUCCESS,\n"
    )
    code, out = await cli(capsys, config, "payouts", "mark-paid", str(response))
    assert "Paid: 2, failed: 1, already recorded: 0, not ours: 1." in out and code == 1
    assert await states(runtime.db) == {"paid": 2, "failed": 1}
    paid = await pushes(runtime.db, "has been paid")
    assert sorted(text.split("(UTR): ")[1] for text in paid) == ["SBIN626340000001.", "SBIN626340000002."]
    assert len(await pushes(runtime.db, "did not go through")) == 1

    code, out = await cli(capsys, config, "payouts", "mark-paid", str(response))
    assert "Paid: 0, failed: 0, already recorded: 3" in out
    assert len(await pushes(runtime.db, "has been paid")) == 2

    code, out = await cli(capsys, config, "rewards", "list", "--state", "failed", "--json")
    [failed] = json.loads(out)
    assert failed["id"] == ids[2] and failed["attempt"] == 2 and "Account closed" in failed["failure_reason"]
    code, out = await cli(capsys, config, "rewards", "retry", str(ids[2]))
    assert code == 0 and await states(runtime.db) == {"paid": 2, "due": 1}
    await runtime.rewards.sweep()
    assert await payouts_per_reward(runtime.db) == {ids[0]: 1, ids[1]: 1, ids[2]: 2}  # a new payout, a new key
    code, out = await cli(capsys, config, "rewards", "list")
    assert "SBIN626340000001" in out and "paying" in out
