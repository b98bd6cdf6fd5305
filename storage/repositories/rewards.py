"""Rewards and payouts; every money state change is a guarded UPDATE that succeeds once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Payout, Reward, utcnow


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

    async def move(self, reward_id: int, from_state: str, to_state: str) -> bool:
        """Move a reward between states; False when it was not in from_state (someone else moved it)."""
        result = await self.session.execute(
            update(Reward)
            .where(Reward.id == reward_id, Reward.state == from_state)
            .values(state=to_state, updated_at=utcnow())
        )
        return result.rowcount == 1

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
