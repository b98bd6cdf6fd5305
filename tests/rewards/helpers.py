"""Shared pieces of the reward tests: fast settings, seeded rewards, an idempotent in-memory provider, polling."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.config import RewardSettings, Settings
from bot.rewards.bank import BankDetails, seal
from bot.rewards.crypto import bank_cipher
from bot.rewards.payouts.base import PayoutOrder, PayoutResult, PayoutStatus
from storage.db import Database
from storage.models import ChannelIdentity, Citizen, Complaint, OutboxMessage, Payout, Reward, utcnow
from storage.repositories.bank_accounts import BankAccountRepository

RZP_KEY_ID = "rzp_test_1DP5mmOlF5G5ag"
RZP_KEY_SECRET = "thisisasecretkey"
RZP_WEBHOOK_SECRET = "webhook-secret-for-tests"
RZP_ACCOUNT = "2323230041626905"

GOOD_BANK = BankDetails(holder="Ravi Kumar", account_number="123456789012", ifsc="SBIN0001234")


def fast_rewards(rewards: RewardSettings, **updates: Any) -> RewardSettings:
    """Reward settings for tests: a 2-second appeal window and sweeps, leases and retries within a second."""
    values: dict[str, Any] = {
        "appeal_window": timedelta(seconds=2),
        "sweep_every": timedelta(seconds=0.3),
        "resume_after": timedelta(seconds=1),
        "retry_after": timedelta(seconds=0.2),
    }
    values.update(updates)
    return rewards.model_copy(update=values)


def razorpayx_rewards(rewards: RewardSettings, base_url: str, **updates: Any) -> RewardSettings:
    rzp = rewards.razorpayx.model_copy(
        update={
            "base_url": base_url,
            "key_id": RZP_KEY_ID,
            "key_secret": SecretStr(RZP_KEY_SECRET),
            "webhook_secret": SecretStr(RZP_WEBHOOK_SECRET),
            "account_number": RZP_ACCOUNT,
            "timeout": timedelta(seconds=0.5),
            "poll_every": timedelta(seconds=0.3),
        }
    )
    return rewards.model_copy(update={"provider": "razorpayx", "razorpayx": rzp, **updates})


async def seed_rewards(
    db: Database,
    settings: Settings,
    count: int,
    *,
    due_at: datetime,
    bank: BankDetails | None = GOOD_BANK,
    amount_paise: int = 125_000,
    state: str = "scheduled",
) -> list[int]:
    """`count` rewards, each with its own registered citizen (with bank details unless bank=None)."""
    cipher = bank_cipher(settings)
    ids = []
    async with db.transaction() as session:
        start = await session.scalar(select(func.count(Citizen.id))) or 0
        for n in range(start, start + count):
            citizen = Citizen(language="en", phone=f"+9198{n:08d}", registered_at=utcnow())
            identity = ChannelIdentity(channel="telegram", external_id=f"5{n:06d}", citizen=citizen)
            session.add_all([citizen, identity])
            await session.flush()
            citizen.last_identity_id = identity.id
            if bank is not None:
                await BankAccountRepository(session).store(citizen, seal(cipher, bank))
            complaint = Complaint(
                citizen_id=citizen.id, category="theft", channel="telegram", status="complete", outcome="confirmed"
            )
            session.add(complaint)
            await session.flush()
            complaint.public_id = f"VM-2026-{complaint.id:06d}"
            reward = Reward(
                complaint_id=complaint.id,
                citizen_id=citizen.id,
                slab="theft",
                amount_paise=amount_paise,
                state=state,
                due_at=due_at,
            )
            session.add(reward)
            await session.flush()
            ids.append(reward.id)
    return ids


async def states(db: Database) -> Counter[str]:
    async with db.reader() as session:
        return Counter(dict((await session.execute(select(Reward.state, func.count()).group_by(Reward.state))).all()))


async def payouts_per_reward(db: Database) -> Counter[int]:
    async with db.reader() as session:
        return Counter(await session.scalars(select(Payout.reward_id)))


async def pushes(db: Database, fragment: str) -> list[str]:
    """Texts of queued or sent pushes containing `fragment`."""
    async with db.reader() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reward_update"))
        return [row.payload["text"] for row in rows if fragment in row.payload.get("text", "")]


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 20.0, what: str = "condition") -> None:
    """Poll until `check()` is true; fail after `within` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


class MemoryProvider:
    """An idempotent provider in memory: money moves once per key however often it is asked."""

    name = "memory"

    def __init__(self) -> None:
        self.moved: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    async def prepare(self, order: PayoutOrder) -> str | None:
        return None

    async def pay(self, order: PayoutOrder) -> PayoutResult:
        self.calls[order.idempotency_key] += 1
        if order.idempotency_key not in self.moved:
            self.moved[order.idempotency_key] += 1
        await asyncio.sleep(0)  # let other workers interleave
        return PayoutResult(
            PayoutStatus.PAID, provider_reference=f"mem-{order.idempotency_key}", utr="UTR" + order.idempotency_key[-8:]
        )

    async def status(self, order: PayoutOrder) -> PayoutResult:
        return await self.pay(order)

    async def close(self) -> None:
        return None


def write_config(path: Path, settings: Settings, database_url: str, **rewards: Any) -> Path:
    """A config.yaml for a subprocess: the test's database and data_dir (hence the same demo key)."""
    data = {
        "data_dir": str(settings.data_dir),
        "log_level": "WARNING",
        "database": {"url": database_url},
        "rewards": {
            "appeal_window": "2s",
            "sweep_every": "0.3s",
            "resume_after": "1s",
            "retry_after": "0.2s",
            **rewards,
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path
