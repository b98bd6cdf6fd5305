"""The guide, the redirect of billing/outage questions, and odd input at the menu."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.app import Runtime
from handlers.redirect import is_grievance
from storage.models import Complaint
from tests.conversation import Chat
from tests.world import register


async def test_help_is_a_step_by_step_guide(chat: Chat) -> None:
    await chat.send("/help")
    guide = chat.expect("How V-Mitra works")
    for fragment in ("1. Register once", "IVRS", "1 to 5 photos", "7-day appeal", "750 m", "1912"):
        assert fragment in guide.text


async def test_help_in_the_middle_of_a_report_loses_nothing(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("/help")
    chat.expect("How V-Mitra works")
    chat.expect("Type the IVRS number")
    await chat.send("N3330008565")
    chat.expect("Is this the consumer")


@pytest.mark.parametrize(
    "text",
    [
        "My bill is too high this month",
        "power cut since morning in our colony",
        "No electricity since 2 days",
        "I need a new connection for my shop",
        "meter reading is wrong",
        "मेरा बिजली बिल बहुत ज़्यादा आया है",
        "कल से बिजली नहीं है",
        "नया कनेक्शन चाहिए",
        "मीटर खराब है",
        "bijli nahi hai",
    ],
)
async def test_grievances_are_pointed_to_1912_and_nidaan(chat: Chat, runtime: Runtime, text: str) -> None:
    await chat.send(text)
    reply = chat.expect("1912")
    assert "Nidaan" in reply.text or "निदान" in reply.text or "nidaan" in reply.text.lower()
    async with runtime.db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Complaint)) == 0


@pytest.mark.parametrize(
    "text",
    ["my neighbour has hooked a wire to the line", "someone bypassed the meter", "पड़ोसी तार डालकर चोरी करता है"],
)
def test_theft_reports_are_not_mistaken_for_grievances(text: str) -> None:
    assert not is_grievance(text)


async def test_garbage_at_the_menu_points_to_the_buttons(chat: Chat) -> None:
    await chat.send("asdf qwer")
    chat.expect("did not understand")
    chat.expect("What would you like to do?")
    await chat.send("/nonsense")
    chat.expect("did not understand")
