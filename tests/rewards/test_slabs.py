"""The reward function: integer paise, within the slab and the overall cap, monotone, nothing for no finding."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, RewardSettings, SlabSettings, load_settings
from bot.rewards.slabs import reward_for

DEFAULTS = RewardSettings()
CATEGORIES = [*DEFAULTS.slabs, "something_new"]
AMOUNTS = st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**13))


def test_default_slabs_by_example() -> None:
    # Rs 12,500 assessed for meter tampering: 10% = Rs 1,250.
    assert reward_for(DEFAULTS, "meter_tampering", "confirmed", 1_250_000).amount_paise == 125_000
    # Rs 50 assessed: raised to the slab's minimum of Rs 100.
    assert reward_for(DEFAULTS, "theft", "confirmed", 5_000).amount_paise == 10_000
    # Rs 1 crore assessed: 10% would be Rs 10 lakh; the cap is Rs 50,000.
    assert reward_for(DEFAULTS, "theft", "confirmed", 10**9).amount_paise == 5_000_000
    # Paise are floored, never rounded up: 10% of 12,345 paise is 1,234 paise.
    custom = RewardSettings(
        slabs={"default": SlabSettings(percent=Decimal("10"), min_paise=0, max_paise=10**6)}, cap_paise=10**6
    )
    assert reward_for(custom, "theft", "confirmed", 12_345).amount_paise == 1_234
    assert reward_for(DEFAULTS, "unknown_kind", "confirmed", 1_000_000).slab == "default"


@pytest.mark.parametrize("outcome", ["not_found", "false_report", None])
def test_no_finding_earns_nothing(outcome: str | None) -> None:
    assert reward_for(DEFAULTS, "theft", outcome, 10**8).amount_paise == 0


@given(category=st.sampled_from(CATEGORIES), assessed=AMOUNTS)
def test_never_negative_never_above_the_cap_and_always_integer(category: str, assessed: int | None) -> None:
    amount = reward_for(DEFAULTS, category, "confirmed", assessed).amount_paise
    assert isinstance(amount, int)
    assert 0 <= amount <= DEFAULTS.cap_paise == 5_000_000


@given(category=st.sampled_from(CATEGORIES), low=AMOUNTS, high=AMOUNTS)
def test_monotone_in_the_assessed_amount(category: str, low: int | None, high: int | None) -> None:
    a, b = sorted((low or 0, high or 0))
    assert (
        reward_for(DEFAULTS, category, "confirmed", a).amount_paise
        <= reward_for(DEFAULTS, category, "confirmed", b).amount_paise
    )


@given(
    fixed=st.integers(0, 10**7),
    percent=st.decimals(min_value=0, max_value=100, places=2),
    bounds=st.tuples(st.integers(0, 10**7), st.integers(0, 10**7)).map(sorted),
    assessed=st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)).map(sorted),
    outcome=st.sampled_from(["confirmed", "not_found", "false_report"]),
)
def test_any_valid_slab_table_keeps_the_rules(
    fixed: int, percent: Decimal, bounds: list[int], assessed: list[int], outcome: str
) -> None:
    slab = SlabSettings(fixed_paise=fixed, percent=percent, min_paise=bounds[0], max_paise=bounds[1])
    rewards = RewardSettings(slabs={"default": slab}, cap_paise=10**7)
    lower = reward_for(rewards, "theft", outcome, assessed[0]).amount_paise
    upper = reward_for(rewards, "theft", outcome, assessed[1]).amount_paise
    if outcome != "confirmed":
        assert lower == upper == 0
        return
    assert bounds[0] <= lower <= upper <= bounds[1]


def test_slab_table_mistakes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("rewards:\n  slabs:\n    theft: {percent: 10, min_paise: 100, max_paise: 99}\n")
    with pytest.raises(ConfigError, match="min_paise must not be above max_paise"):
        load_settings(path, environ={})
    path.write_text("rewards:\n  slabs:\n    default: {percent: 10, max_paise: 9000000}\n")
    with pytest.raises(ConfigError, match="above cap_paise"):
        load_settings(path, environ={})
    path.write_text("rewards:\n  slabs:\n    default: {percent: 10.005}\n")
    with pytest.raises(ConfigError, match="decimal"):
        load_settings(path, environ={})
    path.write_text("rewards:\n  appeal_window: 10s\n  provider: razorpayx\n")
    assert load_settings(path, environ={}).rewards.appeal_window.total_seconds() == 10
