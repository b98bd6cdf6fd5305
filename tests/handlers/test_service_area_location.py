"""Location transcripts with district boundaries configured (the artificial map of tests/service_area_fixture.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings
from tests.conversation import Chat
from tests.service_area_fixture import SERVED, write_boundaries
from tests.world import register


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The world's settings with the artificial districts Alpha, Beta and Gamma served (Delta is not)."""
    path = write_boundaries(tmp_path / "districts.geojson")
    area = settings.service_area.model_copy(update={"boundaries_file": path, "districts": SERVED})
    return settings.model_copy(update={"service_area": area})


async def test_a_report_location_in_the_notch_is_refused_then_one_inside_is_taken(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Electricity theft")
    await chat.press("No, use my location")
    await chat.share_location(23.85, 79.299)  # inside the bounding box, in no district
    refusal = chat.expect("outside MP East Discom's area")
    assert "districts served by MP Poorv Kshetra Vidyut Vitaran Company" in refusal.text
    assert refusal.ask == "location"  # asked again, with the location button
    await chat.share_location(22.9, 80.0)  # Delta: in the file, not served
    unserved = chat.expect("in Delta district")
    assert "does not serve Delta" in unserved.text
    await chat.share_location(23.16855, 79.93385)  # Alpha, where the world's consumers are
    chat.expect("Consumers nearest to you")


async def test_nearby_refuses_a_hole_and_accepts_the_shared_border(chat: Chat) -> None:
    await chat.send("/nearby")
    await chat.share_location(23.15, 81.35)  # the hole in Gamma
    chat.expect("outside MP East Discom's area")
    await chat.share_location(23.2, 80.0)  # on the Alpha/Beta border: served
    chat.expect("No registered consumer within 750 m")


async def test_the_refusal_is_in_hindi_too(new_chat: Callable[..., Chat]) -> None:
    chat = new_chat(user_id="2002", language="hi")
    await register(chat, phone="+919812345678", language="हिन्दी")
    await chat.send("/nearby")
    await chat.share_location(23.85, 79.299)
    chat.expect("मध्य प्रदेश पूर्व क्षेत्र विद्युत वितरण कंपनी के ज़िलों")
    await chat.share_location(22.9, 80.0)
    chat.expect("यह स्थान Delta ज़िले में है")
