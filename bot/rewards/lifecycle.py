"""A reward's birth and its return to the queue: the confirmed-outcome hook and bank details arriving.

Both run inside the caller's transaction (the officer's or the citizen's dialog step), so the
reward, its pushes and the outcome commit together. `payable_changed()` tells this process's
RewardWatch to look again once that transaction has committed (see RewardWatch.poke).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import casework
from bot.config import Settings
from bot.rewards.notices import tell_citizen, tell_officers
from bot.rewards.slabs import reward_for
from storage.models import Citizen, Complaint, utcnow
from storage.repositories import RewardRepository

log = logging.getLogger(__name__)

_generation = 0


def payable_changed() -> None:
    """Something became payable or was scheduled: the watch sweeps after the current commit."""
    global _generation
    _generation += 1


def generation() -> int:
    """A counter that grows with every payable_changed() in this process."""
    return _generation


async def on_confirmed(session: AsyncSession, settings: Settings, complaint: Complaint) -> None:
    """Creates the reward for a confirmed irregularity, due after the appeal window, and tells everyone."""
    if complaint.citizen_id is None:
        return  # the informant erased their data: nobody to pay
    rewards = RewardRepository(session)
    if await rewards.for_complaint(complaint.id) is not None:
        return
    award = reward_for(settings.rewards, complaint.category, complaint.outcome, complaint.assessed_amount_paise)
    if award.amount_paise <= 0:
        return
    reward = await rewards.create(
        complaint_id=complaint.id,
        citizen_id=complaint.citizen_id,
        slab=award.slab,
        amount_paise=award.amount_paise,
        due_at=utcnow() + settings.rewards.appeal_window,
    )
    log.info("reward %s scheduled for %s: %s paise", reward.id, complaint.public_id, award.amount_paise)
    citizen = await session.get(Citizen, complaint.citizen_id)
    has_bank = citizen is not None and citizen.bank_account_encrypted is not None
    await tell_citizen(session, reward, "rewards.scheduled" if has_bank else "rewards.scheduled_no_bank")
    await tell_officers(session, settings, reward, complaint)
    payable_changed()


async def release_waiting(session: AsyncSession, citizen_id: int) -> int:
    """After new bank details: rewards waiting for them (or failed on the old ones) are due again."""
    rewards = RewardRepository(session)
    released = 0
    for reward_id in await rewards.waiting_for_bank(citizen_id):
        if await rewards.transition(reward_id, ("awaiting_bank", "failed"), "due"):
            reward = await rewards.fresh(reward_id)
            assert reward is not None
            await tell_citizen(session, reward, "rewards.retrying")
            released += 1
    if released:
        payable_changed()
    return released


def install() -> None:
    """Register the confirmed-outcome hook with casework (once per process)."""
    if on_confirmed not in casework.confirmed_hooks:
        casework.confirmed_hooks.append(on_confirmed)
