"""Reward fixtures: fast reward settings for the test world, the fake RazorpayX, a started RewardWatch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import Runtime
from bot.config import Settings
from bot.rewards.watch import RewardWatch
from tests.conversation import MemoryAdapter
from tests.fakes.razorpayx import FakeRazorpayX
from tests.rewards.helpers import RZP_ACCOUNT, RZP_KEY_ID, RZP_KEY_SECRET, fast_rewards, razorpayx_rewards


@pytest.fixture
async def rzp() -> AsyncIterator[FakeRazorpayX]:
    """The fake RazorpayX on loopback; a test that asks for it gets the razorpayx provider."""
    async with FakeRazorpayX(RZP_KEY_ID, RZP_KEY_SECRET, account_number=RZP_ACCOUNT) as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The world's settings with a 2-second appeal window; razorpayx when the test uses `rzp`."""
    rewards = fast_rewards(settings.rewards)
    if "rzp" in request.fixturenames:
        fake: FakeRazorpayX = request.getfixturevalue("rzp")
        rewards = razorpayx_rewards(rewards, fake.base_url)
    return settings.model_copy(update={"rewards": rewards})


@pytest.fixture
async def watch(runtime: Runtime, adapter: MemoryAdapter) -> AsyncIterator[RewardWatch]:
    """The runtime's RewardWatch, started (date jobs and the sweep), stopped after the test."""
    assert runtime.rewards is not None
    await runtime.rewards.start()
    yield runtime.rewards
    await runtime.rewards.close()
