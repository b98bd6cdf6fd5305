"""Exactly-once payments: two watches on one database, stalled payments, a timeout after the provider accepted.

The database tests run on SQLite and on PostgreSQL; each watch has its own engine, as two processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.rewards.bank import BankDetails, save_bank_details
from bot.rewards.crypto import bank_cipher
from bot.rewards.lifecycle import release_waiting
from bot.rewards.payments import Payments
from bot.rewards.payouts import provider_for
from bot.rewards.watch import RewardWatch
from storage.db import Database
from storage.models import Citizen, Payout, Reward, utcnow
from storage.repositories import RewardRepository
from storage.repositories.rewards import payout_key
from tests.conftest import POSTGRES_URL
from tests.fakes.razorpayx import FakeRazorpayX
from tests.rewards.helpers import (
    GOOD_BANK,
    MemoryProvider,
    eventually,
    payouts_per_reward,
    pushes,
    seed_rewards,
    states,
)


@pytest.fixture
async def twin(db: Database) -> AsyncIterator[Database]:
    """A second engine on the same database (same SQLite file, same PostgreSQL schema)."""
    if db.dialect == "sqlite":
        other = Database(db.url)
    else:
        async with db.engine.connect() as conn:
            schema = (await conn.exec_driver_sql("SHOW search_path")).scalar_one()
        other = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    yield other
    await other.dispose()


async def test_a_hundred_rewards_due_together_swept_by_two_watches_are_each_paid_once(
    db: Database, twin: Database, settings: Settings
) -> None:
    ids = await seed_rewards(db, settings, 100, due_at=utcnow() + timedelta(seconds=1))
    bank = MemoryProvider()  # both watches pay through the same "bank"
    watches = [RewardWatch(db, settings, bank), RewardWatch(twin, settings, bank)]
    for watch in watches:
        await watch.start()
    try:

        async def all_paid() -> bool:
            return (await states(db)).get("paid", 0) == 100

        await eventually(all_paid, within=60, what="100 rewards paid")
    finally:
        for watch in watches:
            await watch.stop()
    assert bank.moved == {payout_key(i, 1): 1 for i in ids}
    assert await payouts_per_reward(db) == {i: 1 for i in ids}
    assert len(await pushes(db, "has been paid")) == 100


async def test_a_payment_left_stalled_is_resumed_once_by_racing_sweeps(
    db: Database, twin: Database, settings: Settings
) -> None:
    [reward_id] = await seed_rewards(db, settings, 1, due_at=utcnow(), state="due")
    # A process claimed it, wrote the payout, and died before calling the provider.
    async with db.transaction() as session:
        rewards = RewardRepository(session)
        assert await rewards.claim(reward_id, utcnow(), utcnow() - timedelta(seconds=1))
        reward = await rewards.fresh(reward_id)
        assert reward is not None
        await rewards.add_payout(reward, "memory", payout_key(reward_id, 1))
    bank = MemoryProvider()
    results = await asyncio.gather(RewardWatch(db, settings, bank).sweep(), RewardWatch(twin, settings, bank).sweep())
    assert sorted(r.count("paid") for r in results) == [0, 1]
    assert bank.calls == {payout_key(reward_id, 1): 1}
    assert await states(db) == {"paid": 1}
    assert len(await pushes(db, "has been paid")) == 1


async def test_the_provider_times_out_after_accepting_and_the_retry_carries_the_same_key(
    sqlite_db: Database, settings: Settings, rzp: FakeRazorpayX
) -> None:
    [reward_id] = await seed_rewards(sqlite_db, settings, 1, due_at=utcnow(), state="due")
    provider = provider_for(settings)
    payments = Payments(sqlite_db, settings, provider)
    rzp.delay_after_accept(1.5)  # longer than the client's 0.5 s timeout
    try:
        assert await payments.pay(reward_id) == "retry"
        assert len(rzp.payouts) == 1  # RazorpayX made the payout; we never heard
        assert await states(sqlite_db) == {"paying": 1}

        async def resumed() -> bool:
            return await payments.resume(reward_id) == "paid"

        await eventually(resumed, within=10, what="the retry to be answered")
    finally:
        await provider.close()
    key = payout_key(reward_id, 1)
    assert rzp.money_moved() == {key: 1}
    sent = [headers.get("X-Payout-Idempotency") for method, path, headers in rzp.requests if path == "/v1/payouts"]
    assert sent == [key, key]
    assert sum(path == "/v1/fund_accounts" for _, path, _ in rzp.requests) == 1
    async with sqlite_db.reader() as session:
        payout = (await session.scalars(select(Payout))).one()
        reward = await session.get(Reward, reward_id)
    assert payout.attempts == 2 and payout.state == "paid" and payout.utr
    assert reward is not None and reward.bank_reference == payout.utr


async def test_a_refused_ifsc_fails_the_reward_and_corrected_details_pay_once_with_a_new_key(
    sqlite_db: Database, settings: Settings, rzp: FakeRazorpayX
) -> None:
    bad = BankDetails(holder="Ravi Kumar", account_number="123456789012", ifsc="BADB0000001")
    rzp.bad_ifsc.add(bad.ifsc)
    [reward_id] = await seed_rewards(sqlite_db, settings, 1, due_at=utcnow(), state="due", bank=bad)
    provider = provider_for(settings)
    payments = Payments(sqlite_db, settings, provider)
    try:
        assert await payments.pay(reward_id) == "failed"
        assert len(await pushes(sqlite_db, "did not go through")) == 1
        async with sqlite_db.transaction() as session:
            reward = await session.get(Reward, reward_id)
            assert reward is not None and reward.state == "failed" and reward.attempt == 2
            assert "Invalid IFSC" in (reward.failure_reason or "")
            citizen = await session.get(Citizen, reward.citizen_id)
            assert citizen is not None
            await save_bank_details(session, bank_cipher(settings), citizen, GOOD_BANK, actor="test")
            assert await release_waiting(session, citizen.id) == 1
        assert await payments.pay(reward_id) == "paid"
        assert await payments.pay(reward_id) is None
    finally:
        await provider.close()
    assert rzp.money_moved() == {payout_key(reward_id, 2): 1}
    assert len(await pushes(sqlite_db, "has been paid")) == 1


async def test_an_unavailable_provider_is_asked_again_and_a_processing_payout_is_polled(
    sqlite_db: Database, settings: Settings, rzp: FakeRazorpayX
) -> None:
    [reward_id] = await seed_rewards(sqlite_db, settings, 1, due_at=utcnow(), state="due")
    provider = provider_for(settings)
    payments = Payments(sqlite_db, settings, provider)
    rzp.auto_process = False
    rzp.fail_next(503)
    try:
        assert await payments.pay(reward_id) == "retry"

        async def accepted() -> bool:
            return await payments.resume(reward_id) == "processing"

        await eventually(accepted, within=10, what="the payout to be accepted")
        [payout_id] = rzp.payouts
        assert await payments.resume(reward_id) is None  # polled only after poll_every
        rzp.process(payout_id)

        async def polled() -> bool:
            return await payments.resume(reward_id) == "paid"

        await eventually(polled, within=10, what="the status poll")
    finally:
        await provider.close()
    assert rzp.money_moved() == {payout_key(reward_id, 1): 1}
