"""The reward function: how much a confirmed irregularity earns, in integer paise (no floats anywhere).

    reward = clamp(fixed_paise + assessed_paise * basis_points // 10_000, min_paise, max_paise), then <= cap_paise

Not-found and false reports earn nothing; a category without its own slab uses the "default" slab.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import RewardSettings

REWARDED_OUTCOME = "confirmed"


@dataclass(frozen=True)
class Award:
    """What a complaint earns: the slab applied and the amount in paise (0: nothing)."""

    slab: str
    amount_paise: int


def reward_for(rewards: RewardSettings, category: str, outcome: str | None, assessed_paise: int | None) -> Award:
    """The reward for an inspection outcome; only a confirmed irregularity earns one."""
    slab_name = category if category in rewards.slabs else "default"
    if outcome != REWARDED_OUTCOME:
        return Award(slab_name, 0)
    slab = rewards.slabs[slab_name]
    assessed = max(assessed_paise or 0, 0)
    # Floor division: the informant is never paid a fraction of a paisa more than the slab says.
    amount = slab.fixed_paise + assessed * slab.basis_points // 10_000
    amount = min(max(amount, slab.min_paise), slab.max_paise)
    return Award(slab_name, max(0, min(amount, rewards.cap_paise)))
