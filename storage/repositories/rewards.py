"""Rewards and payouts; every money state change is a guarded UPDATE that succeeds once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Payout, Reward, utcnow


def payout_key(reward_id: int, attempt: int) -> str:
    """The idempotency key of a reward's n-th payout: the same on every retry of that payout."""
    return f"vm-reward-{reward_id}-{attempt}"


class RewardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self, *, complaint_id: int, citizen_id: int | None, slab: str, amount_paise: int, due_at: datetime
    ) -> Reward:
        if amount_paise < 0:
            raise ValueError("a reward cannot be negative")
        reward = Reward(
            complaint_id=complaint_id,
            citizen_id=citizen_id,
            slab=slab,
            amount_paise=amount_paise,
            state="scheduled",
            due_at=due_at,
        )
        self.session.add(reward)
        await self.session.flush()
        return reward

    async def get(self, reward_id: int) -> Reward | None:
        return await self.session.get(Reward, reward_id)

    async def fresh(self, reward_id: int) -> Reward | None:
        """The reward as the database has it now (guarded UPDATEs bypass the session's copies)."""
        return await self.session.get(Reward, reward_id, populate_existing=True)

    async def move(self, reward_id: int, from_state: str, to_state: str) -> bool:
        """Move a reward between states; False when it was not in from_state (someone else moved it)."""
        return await self.transition(reward_id, (from_state,), to_state)

    async def transition(
        self,
        reward_id: int,
        from_states: Sequence[str],
        to_state: str,
        *,
        where: Sequence[ColumnElement[bool]] = (),
        **values: Any,
    ) -> bool:
        """The one way a reward changes state: UPDATE ... WHERE state IN from_states; True for the one winner."""
        result = await self.session.execute(
            update(Reward)
            .where(Reward.id == reward_id, Reward.state.in_(from_states), *where)
            .values(state=to_state, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    async def for_complaint(self, complaint_id: int) -> Reward | None:
        """The reward of a complaint, if any."""
        return await self.session.scalar(select(Reward).where(Reward.complaint_id == complaint_id))

    async def mature(self, now: datetime) -> int:
        """Every scheduled reward whose appeal window has passed becomes due; how many did."""
        result = await self.session.execute(
            update(Reward)
            .where(Reward.state == "scheduled", Reward.due_at <= now)
            .values(state="due", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount

    async def claim(self, reward_id: int, now: datetime, lease_until: datetime) -> bool:
        """due (or scheduled past its due time) -> paying for exactly one caller, who holds it until lease_until."""
        return await self.transition(
            reward_id,
            ("due", "scheduled"),
            "paying",
            where=(Reward.due_at <= now,),
            claimed_at=now,
            next_attempt_at=lease_until,
        )

    async def lease(self, reward_id: int, now: datetime, until: datetime) -> bool:
        """Take over a payment in progress whose lease or backoff has run out; one caller wins."""
        return await self.transition(
            reward_id, ("paying",), "paying", where=(Reward.next_attempt_at <= now,), next_attempt_at=until
        )

    async def postpone(self, reward_id: int, until: datetime | None) -> bool:
        """When a payment in progress should be looked at again (None: only an outside event completes it)."""
        return await self.transition(reward_id, ("paying",), "paying", next_attempt_at=until)

    async def settle_paid(self, reward_id: int, attempt: int, bank_reference: str | None, now: datetime) -> bool:
        """paying -> paid, once, and only for the reward's current payout."""
        return await self.transition(
            reward_id,
            ("paying",),
            "paid",
            where=(Reward.attempt == attempt,),
            paid_at=now,
            bank_reference=bank_reference,
            next_attempt_at=None,
            failure_reason=None,
        )

    async def settle_failed(self, reward_id: int, attempt: int, reason: str) -> bool:
        """paying -> failed, once; the next payout of this reward will carry a new idempotency key."""
        return await self.transition(
            reward_id,
            ("paying",),
            "failed",
            where=(Reward.attempt == attempt,),
            attempt=Reward.attempt + 1,
            failure_reason=reason[:500],
            next_attempt_at=None,
        )

    async def ids_in_state(self, state: str, limit: int = 500) -> list[int]:
        """Ids of rewards in a state, oldest due first."""
        stmt = select(Reward.id).where(Reward.state == state).order_by(Reward.due_at, Reward.id).limit(limit)
        return list(await self.session.scalars(stmt))

    async def resumable_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Payments in progress whose lease or backoff has run out (a crash, a lost answer, a poll)."""
        stmt = (
            select(Reward.id)
            .where(Reward.state == "paying", Reward.next_attempt_at <= now)
            .order_by(Reward.next_attempt_at, Reward.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def scheduled_after(self, last_id: int) -> list[tuple[int, datetime]]:
        """(id, due_at) of scheduled rewards with an id above last_id, oldest first."""
        stmt = select(Reward.id, Reward.due_at).where(Reward.state == "scheduled", Reward.id > last_id)
        return [(row.id, row.due_at) for row in await self.session.execute(stmt.order_by(Reward.id))]

    async def waiting_for_bank(self, citizen_id: int) -> list[int]:
        """The citizen's rewards that wait for (corrected) bank details."""
        stmt = select(Reward.id).where(Reward.citizen_id == citizen_id, Reward.state.in_(("awaiting_bank", "failed")))
        return list(await self.session.scalars(stmt.order_by(Reward.id)))

    async def payout_by_key(self, idempotency_key: str) -> Payout | None:
        """The payout with this idempotency key."""
        return await self.session.scalar(select(Payout).where(Payout.idempotency_key == idempotency_key))

    async def payout_by_reference(self, provider_reference: str) -> Payout | None:
        """The payout with this provider reference (e.g. RazorpayX's pout_...)."""
        return await self.session.scalar(select(Payout).where(Payout.provider_reference == provider_reference))

    async def payouts_to_export(self, provider: str, limit: int = 10_000) -> list[Payout]:
        """Ledger entries not yet in any bank file (their reward is being paid)."""
        stmt = (
            select(Payout)
            .join(Reward, Reward.id == Payout.reward_id)
            .where(Payout.provider == provider, Payout.state == "pending", Reward.state == "paying")
            .order_by(Payout.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def mark_exported(self, payout_id: int, batch: str, now: datetime) -> bool:
        """pending -> processing in a batch, once: a payout is never written to two bank files."""
        result = await self.session.execute(
            update(Payout)
            .where(Payout.id == payout_id, Payout.state == "pending")
            .values(state="processing", batch=batch, exported_at=now, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    async def batches_like(self, prefix: str) -> list[str]:
        """Bank-file batch names starting with prefix."""
        stmt = select(Payout.batch).where(Payout.batch.like(f"{prefix}%")).distinct()
        return [batch for batch in await self.session.scalars(stmt) if batch]

    async def payouts_in_batch(self, batch: str) -> list[Payout]:
        """The payouts exported in one bank-file batch."""
        return list(await self.session.scalars(select(Payout).where(Payout.batch == batch).order_by(Payout.id)))

    async def due_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Scheduled rewards whose appeal window has passed."""
        stmt = (
            select(Reward.id)
            .where(Reward.state == "scheduled", Reward.due_at <= now)
            .order_by(Reward.due_at, Reward.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def list(self, state: str | None = None) -> list[Reward]:
        stmt = select(Reward).order_by(Reward.id)
        if state:
            stmt = stmt.where(Reward.state == state)
        return list(await self.session.scalars(stmt))

    async def add_payout(self, reward: Reward, provider: str, idempotency_key: str) -> Payout:
        payout = Payout(
            reward_id=reward.id,
            idempotency_key=idempotency_key,
            provider=provider,
            amount_paise=reward.amount_paise,
            state="pending",
        )
        self.session.add(payout)
        await self.session.flush()
        return payout

    async def payouts_of(self, reward_id: int) -> list[Payout]:
        stmt = select(Payout).where(Payout.reward_id == reward_id).order_by(Payout.id)
        return list(await self.session.scalars(stmt))

    async def paid_totals(self) -> tuple[int, int]:
        """How many rewards were paid, and how much in all (paise)."""
        stmt = select(func.count(), func.coalesce(func.sum(Reward.amount_paise), 0)).where(Reward.state == "paid")
        count, total = (await self.session.execute(stmt)).one()
        return int(count), int(total)
