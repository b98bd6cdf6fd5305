"""Processes killed and restarted around the due time, and two processes paying at once: each reward once.

Every payment runs in a real subprocess (tests/rewards/sweeper.py) against the fake RazorpayX, which
counts the payouts it makes per idempotency key; SQLite is shared through its file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from bot.config import Settings
from storage.db import Database
from storage.models import utcnow
from storage.repositories.rewards import payout_key
from tests.fakes.razorpayx import FakeRazorpayX
from tests.rewards.helpers import (
    RZP_ACCOUNT,
    RZP_KEY_ID,
    RZP_KEY_SECRET,
    RZP_WEBHOOK_SECRET,
    payouts_per_reward,
    pushes,
    seed_rewards,
    states,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "RAZORPAYX_KEY_ID": RZP_KEY_ID,
    "RAZORPAYX_KEY_SECRET": RZP_KEY_SECRET,
    "RAZORPAYX_WEBHOOK_SECRET": RZP_WEBHOOK_SECRET,
}


async def sweeper(config: Path, *crash: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.rewards.sweeper", str(config), *crash, cwd=ROOT, env=ENV
    )


async def finished(process: asyncio.subprocess.Process, within: float = 120) -> int:
    return await asyncio.wait_for(process.wait(), timeout=within)


async def test_killed_restarted_and_doubled_processes_pay_each_reward_exactly_once(
    sqlite_db: Database, settings: Settings, rzp: FakeRazorpayX, tmp_path: Path
) -> None:
    rzp.latency = 0.05
    ids = await seed_rewards(sqlite_db, settings, 40, due_at=utcnow() + timedelta(seconds=2))
    rzp_config = {"base_url": rzp.base_url, "account_number": RZP_ACCOUNT, "timeout": "0.5s", "poll_every": "0.3s"}
    config = write_config(
        tmp_path / "sweeper.yaml", settings, sqlite_db.url, provider="razorpayx", razorpayx=rzp_config
    )

    # 1. Killed from outside (SIGKILL) while the rewards that just fell due are being paid: at the moment
    #    RazorpayX creates the 5th payout, before any answer to it.
    first = await sweeper(config)

    def kill_at_the_fifth(payout: dict[str, object]) -> None:
        if len(rzp.payouts) == 5:
            first.kill()

    rzp.on_create = kill_at_the_fifth
    assert await finished(first) == -9
    rzp.on_create = None
    assert len(rzp.payouts) < len(ids)

    # 2. Dies right after RazorpayX accepted a payout, before recording it.
    second = await sweeper(config, "--crash-after-pay", "3")
    assert await finished(second) == -9

    # 3. Dies after claiming a reward (its Payout row committed), before calling the provider.
    third = await sweeper(config, "--crash-before-pay", "1")
    assert await finished(third) == -9

    # 4. Two processes at once finish the work, the payments left half-done by the dead ones included.
    together = [await sweeper(config), await sweeper(config)]
    assert [await finished(process) for process in together] == [0, 0]

    assert await states(sqlite_db) == {"paid": len(ids)}
    assert rzp.money_moved() == {payout_key(i, 1): 1 for i in ids}
    assert await payouts_per_reward(sqlite_db) == {i: 1 for i in ids}
    assert len(await pushes(sqlite_db, "has been paid")) == len(ids)
