"""A reward-paying process for the restart tests: `python -m tests.rewards.sweeper CONFIG [--crash-...]`.

It runs a RewardWatch built from the config (date jobs and sweeps, as the bot does) until no reward is
left to pay, then exits 0. The crash options kill the process with SIGKILL at a chosen point:

    --crash-before-pay N   on the N-th payout: after its claim (and Payout row) committed, before the provider call
    --crash-after-pay N    right after the provider accepted the N-th payout, before it is recorded
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from sqlalchemy import func, select

from bot.config import load_settings
from bot.rewards.payouts import PayoutOrder, PayoutProvider, PayoutResult, provider_for
from bot.rewards.watch import RewardWatch
from storage.db import Database
from storage.models import Reward

SETTLED = ("paid", "failed", "cancelled")


class CrashingProvider:
    """Wraps the real provider and dies (SIGKILL, no clean-up) at the chosen payout."""

    def __init__(self, inner: PayoutProvider, before: int | None, after: int | None) -> None:
        self.inner = inner
        self.name = inner.name
        self.before = before
        self.after = after
        self.calls = 0

    async def prepare(self, order: PayoutOrder) -> str | None:
        return await self.inner.prepare(order)

    async def pay(self, order: PayoutOrder) -> PayoutResult:
        self.calls += 1
        number = self.calls  # payouts run concurrently: remember which one this is
        if number == self.before:
            os.kill(os.getpid(), signal.SIGKILL)
        result = await self.inner.pay(order)
        if number == self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    async def status(self, order: PayoutOrder) -> PayoutResult:
        return await self.inner.status(order)

    async def close(self) -> None:
        await self.inner.close()


async def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    db = Database(settings.database.url)
    provider = CrashingProvider(provider_for(settings), args.crash_before_pay, args.crash_after_pay)
    watch = RewardWatch(db, settings, provider)
    await watch.start()
    deadline = time.monotonic() + args.within
    try:
        while time.monotonic() < deadline:
            async with db.reader() as session:
                left = await session.scalar(select(func.count(Reward.id)).where(Reward.state.not_in(SETTLED)))
            if not left:
                return 0
            await asyncio.sleep(0.1)
        return 3
    finally:
        await watch.close()
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--crash-before-pay", type=int)
    parser.add_argument("--crash-after-pay", type=int)
    parser.add_argument("--within", type=float, default=90.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
