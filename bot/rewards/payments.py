"""Paying a reward exactly once: the database transitions around every call to the payout provider.

    due --claim (guarded UPDATE)--> paying, and in the SAME transaction the Payout row with the key
        vm-reward-<id>-<n>; only then is the provider called, always with that key:
          paid         -> paid, the bank reference (UTR) kept; the complainant is told
          failed       -> failed, n+1 for the next payout; the complainant is asked to correct bank details
          processing   -> paying, looked at again after razorpayx.poll_every (or the webhook completes it)
          queued       -> paying until `payouts mark-paid` brings the bank's UTRs (bank file)
          no answer    -> paying, asked again after retry_after (doubling), with the same key
    due without bank details -> awaiting_bank (the complainant is asked for them)

A crash at any point leaves the reward 'paying' with a lease (next_attempt_at). When it runs out,
a sweep in any process takes the lease over (one winner) and asks the provider again with the
same key: the provider answers with the payout it already has, so nothing is paid twice, and the
guarded paying -> paid UPDATE lets exactly one recorder tell the complainant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.rewards.bank import BankDetails, unseal
from bot.rewards.crypto import BankDataUnreadable, bank_cipher, mask
from bot.rewards.notices import tell_citizen
from bot.rewards.payouts.base import (
    PayoutOrder,
    PayoutProvider,
    PayoutRejected,
    PayoutResult,
    PayoutStatus,
    ProviderUnavailable,
)
from storage.db import Database
from storage.models import Citizen, Payout, Reward, utcnow
from storage.repositories import RewardRepository
from storage.repositories.bank_accounts import BankAccountRepository
from storage.repositories.rewards import payout_key

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
_DIGITS = re.compile(r"\d{9,}")
# A reward is payable when due, or still scheduled but past its appeal window (the sweep has not yet marked it).
PAYABLE = ("due", "scheduled")


def payable(reward: Reward, now: datetime) -> bool:
    """Due, or still scheduled but past its appeal window."""
    return reward.state == "due" or (reward.state == "scheduled" and reward.due_at <= now)


def scrub(reason: str) -> str:
    """A provider's or bank's reason as we may store and log it: long digit runs masked (they may be accounts)."""
    return _DIGITS.sub(lambda m: "X" * (len(m.group()) - 4) + m.group()[-4:], reason)[:500]


def backoff(settings: Settings, calls: int) -> timedelta:
    """How long to wait after the provider failed to answer `calls` times in a row."""
    return min(
        settings.rewards.retry_after * 2 ** min(max(calls - 1, 0), 16), max(MAX_BACKOFF, settings.rewards.retry_after)
    )


async def apply_result(
    session: AsyncSession,
    settings: Settings,
    idempotency_key: str,
    result: PayoutResult,
    *,
    now: datetime | None = None,
) -> str:
    """Record what the provider said about a payout; returns paid, failed, processing, queued or unchanged."""
    now = now or utcnow()
    rewards = RewardRepository(session)
    payout = await rewards.payout_by_key(idempotency_key)
    if payout is None:
        return "unknown"
    reward = await rewards.fresh(payout.reward_id)
    # Only the reward's current payout may settle it (an old, failed payout never does).
    current = reward is not None and payout_key(reward.id, reward.attempt) == idempotency_key
    if result.provider_reference and payout.provider_reference is None:
        payout.provider_reference = result.provider_reference
    if reward is None or not current:
        if result.status is PayoutStatus.PAID:
            log.error("payout %s is reported paid but is not the reward's current payout: reconcile", idempotency_key)
        return "unchanged"
    if result.status is PayoutStatus.PAID:
        if not await rewards.settle_paid(reward.id, reward.attempt, result.utr, now):
            if reward.state != "paid":
                log.error(
                    "payout %s is reported paid while reward %s is %s: reconcile",
                    idempotency_key,
                    reward.id,
                    reward.state,
                )
            return "unchanged"
        payout.state, payout.utr, payout.completed_at, payout.last_error = "paid", result.utr, now, None
        citizen = await session.get(Citizen, reward.citizen_id) if reward.citizen_id else None
        account = mask(citizen.bank_last4 if citizen else None)
        await tell_citizen(session, reward, "rewards.paid", account=account, reference=result.utr or "-")
        log.info("reward %s paid (payout %s)", reward.id, idempotency_key)
        return "paid"
    if result.status is PayoutStatus.FAILED:
        reason = scrub(result.reason or "refused by the bank")
        if not await rewards.settle_failed(reward.id, reward.attempt, reason):
            return "unchanged"
        payout.state, payout.last_error, payout.completed_at = "failed", reason[:500], now
        await tell_citizen(session, reward, "rewards.failed")
        log.warning("reward %s: payout %s failed: %s", reward.id, idempotency_key, reason)
        return "failed"
    if result.status is PayoutStatus.PROCESSING:
        if payout.state == "pending":
            payout.state = "processing"
        await rewards.postpone(reward.id, now + settings.rewards.razorpayx.poll_every)
        return "processing"
    await rewards.postpone(reward.id, None)
    return "queued"


class Payments:
    """Moves due rewards through the provider; safe to run in several processes at once."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: PayoutProvider,
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.provider = provider
        self.on_committed = on_committed

    def _committed(self) -> None:
        if self.on_committed is not None:
            self.on_committed()

    async def pay(self, reward_id: int) -> str | None:
        """Claim a reward that is due (or whose appeal window just passed) and pay it; None if another has it."""
        now = utcnow()
        async with self.db.reader() as session:  # a cheap look first, without the write lock
            reward = await session.get(Reward, reward_id)
            if reward is None or not payable(reward, now):
                return None
        async with self.db.transaction() as session:
            rewards = RewardRepository(session)
            reward = await rewards.fresh(reward_id)
            if reward is None or not payable(reward, now):
                return None
            ripe = (Reward.due_at <= now,)
            citizen = await session.get(Citizen, reward.citizen_id) if reward.citizen_id is not None else None
            if citizen is None or citizen.deleted_at is not None:
                cancelled = await rewards.transition(
                    reward_id, PAYABLE, "cancelled", where=ripe, failure_reason="the informant's data was erased"
                )
                return "cancelled" if cancelled else None
            if citizen.bank_account_encrypted is None:
                if not await rewards.transition(reward_id, PAYABLE, "awaiting_bank", where=ripe):
                    return None
                await tell_citizen(session, reward, "rewards.awaiting_bank")
                waiting = True
            else:
                if not await rewards.claim(reward_id, now, now + self.settings.rewards.resume_after):
                    return None
                key = payout_key(reward.id, reward.attempt)
                if await rewards.payout_by_key(key) is None:
                    await rewards.add_payout(reward, self.provider.name, key)
                waiting = False
        if waiting:
            self._committed()
            return "awaiting_bank"
        return await self._send(reward_id)

    async def resume(self, reward_id: int) -> str | None:
        """Take over a payment whose lease or backoff ran out and ask the provider again, same key."""
        now = utcnow()
        async with self.db.transaction() as session:
            if not await RewardRepository(session).lease(reward_id, now, now + self.settings.rewards.resume_after):
                return None
        return await self._send(reward_id)

    async def record(self, idempotency_key: str, result: PayoutResult) -> str:
        """Record an answer that arrived from outside (webhook, bank file) in its own transaction."""
        async with self.db.transaction() as session:
            outcome = await apply_result(session, self.settings, idempotency_key, result)
        self._committed()
        return outcome

    async def _send(self, reward_id: int) -> str | None:
        async with self.db.reader() as session:
            reward = await session.get(Reward, reward_id)
            if reward is None or reward.state != "paying":
                return None
            key = payout_key(reward.id, reward.attempt)
            payout = await RewardRepository(session).payout_by_key(key)
            sealed = await BankAccountRepository(session).of(reward.citizen_id) if reward.citizen_id else None
        if payout is None or payout.state in ("paid", "failed"):
            log.error("reward %s is paying but payout %s is %s", reward_id, key, payout and payout.state)
            return None
        if payout.provider != self.provider.name:
            # Written for another provider (the configuration changed): only that provider completes it.
            async with self.db.transaction() as session:
                await RewardRepository(session).postpone(reward_id, None)
            log.warning("payout %s belongs to %s, not %s; left for it", key, payout.provider, self.provider.name)
            return None
        details: BankDetails | None = None
        if sealed is not None:
            try:
                details = unseal(bank_cipher(self.settings), sealed)
            except BankDataUnreadable:
                log.error("reward %s: the citizen's bank details cannot be decrypted with the current key", reward_id)
        if details is None:
            return await self._record_call(key, PayoutResult(PayoutStatus.FAILED, reason="no readable bank details"))
        order = PayoutOrder(
            idempotency_key=key,
            reward_id=reward.id,
            citizen_id=reward.citizen_id or 0,
            amount_paise=payout.amount_paise,
            beneficiary=details,
            narration=f"VMitra reward {reward.id}",
            destination=payout.provider_account,
            provider_reference=payout.provider_reference,
        )
        try:
            result = await self._call(order, payout.id)
        except ProviderUnavailable as exc:
            return await self._retry_later(reward_id, payout.id, key, str(exc))
        except PayoutRejected as exc:
            result = PayoutResult(PayoutStatus.FAILED, reason=str(exc))
        return await self._record_call(key, result)

    async def _call(self, order: PayoutOrder, payout_id: int) -> PayoutResult:
        if order.provider_reference:
            return await self.provider.status(order)
        if order.destination is None:
            destination = await self.provider.prepare(order)
            if destination is not None:
                order = replace(order, destination=await self._keep_destination(payout_id, destination))
        return await self.provider.pay(order)

    async def _keep_destination(self, payout_id: int, destination: str) -> str:
        """Store the beneficiary handle once; a retry must send the very same request body."""
        async with self.db.transaction() as session:
            await session.execute(
                update(Payout)
                .where(Payout.id == payout_id, Payout.provider_account.is_(None))
                .values(provider_account=destination)
                .execution_options(synchronize_session=False)
            )
            stored = await session.get(Payout, payout_id, populate_existing=True)
        return stored.provider_account if stored is not None and stored.provider_account else destination

    async def _record_call(self, key: str, result: PayoutResult) -> str:
        async with self.db.transaction() as session:
            outcome = await apply_result(session, self.settings, key, result)
            await session.execute(
                update(Payout).where(Payout.idempotency_key == key).values(attempts=Payout.attempts + 1)
            )
        self._committed()
        return outcome

    async def _retry_later(self, reward_id: int, payout_id: int, key: str, error: str) -> str:
        now = utcnow()
        async with self.db.transaction() as session:
            payout = await session.get(Payout, payout_id, populate_existing=True)
            assert payout is not None
            payout.attempts += 1
            payout.last_error = scrub(error)
            when = now + backoff(self.settings, payout.attempts)
            await RewardRepository(session).postpone(reward_id, when)
        log.warning("payout %s: no answer from %s (%s); asking again at %s", key, self.provider.name, error, when)
        return "retry"
