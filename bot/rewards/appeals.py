"""Appeals against a finding: recorded before the reward falls due, then decided one way or the other.

    scheduled --appeal (before due_at)--> held --decided for the company--> due (paid at once)
                                               --decided for the appellant--> cancelled

Officers (the inspector who confirmed, the district's supervisors) use the buttons on the reward
notice; administrators use `run_bot.py rewards appeal|release|cancel ID`. Each step is a guarded
UPDATE, audit-logged, and the complainant is told.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rewards.lifecycle import payable_changed
from bot.rewards.notices import officers_for, tell_citizen
from storage.models import Complaint, Officer, Reward, utcnow
from storage.repositories import AuditRepository, RewardRepository


class AppealRefused(Exception):
    """The reward is not in a state that allows this (already due, paid, decided, ...)."""

    def __init__(self, reward: Reward | None, reason: str) -> None:
        super().__init__(reason)
        self.reward = reward


async def may_decide(session: AsyncSession, officer: Officer, reward: Reward) -> bool:
    """Only the inspector who confirmed the finding and the district's supervisors act on its reward."""
    complaint = await session.get(Complaint, reward.complaint_id)
    if complaint is None:
        return False
    return any(candidate.id == officer.id for candidate in await officers_for(session, complaint))


async def record_appeal(session: AsyncSession, reward_id: int, *, actor: str) -> Reward:
    """Hold a scheduled reward because an appeal was filed against the finding; tell the complainant."""
    rewards = RewardRepository(session)
    now = utcnow()
    held = await rewards.transition(
        reward_id, ("scheduled",), "held", where=(Reward.due_at > now,), appealed_at=now, appealed_by=actor[:32]
    )
    reward = await rewards.fresh(reward_id)
    if not held or reward is None:
        raise AppealRefused(reward, "only a reward whose appeal window is still open can be held")
    await AuditRepository(session).record(actor, "reward.appeal", f"reward:{reward_id}")
    await tell_citizen(session, reward, "rewards.held")
    return reward


async def decide_appeal(session: AsyncSession, reward_id: int, *, for_company: bool, actor: str) -> Reward:
    """Decide a held reward: the finding stands (payable at once) or it fell (cancelled); tell the complainant."""
    rewards = RewardRepository(session)
    now = utcnow()
    outcome = "company" if for_company else "appellant"
    moved = await rewards.transition(
        reward_id,
        ("held",),
        "due" if for_company else "cancelled",
        appeal_decided_at=now,
        appeal_outcome=outcome,
    )
    reward = await rewards.fresh(reward_id)
    if not moved or reward is None:
        raise AppealRefused(reward, "only a reward on hold for an appeal can be decided")
    await AuditRepository(session).record(actor, "reward.appeal_decided", f"reward:{reward_id}", outcome=outcome)
    if for_company:
        await tell_citizen(session, reward, "rewards.released")
        payable_changed()
    else:
        await tell_citizen(session, reward, "rewards.cancelled")
    return reward
