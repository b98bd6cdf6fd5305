"""Abuse limits: complaints per day, the gap between two, and blocked citizens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.app import Runtime
from storage.models import Citizen, Complaint
from tests.conversation import Chat, jpeg_bytes
from tests.world import register


def limit(runtime: Runtime, **values: object) -> None:
    runtime.engine.settings = runtime.settings.model_copy(
        update={"abuse": runtime.settings.abuse.model_copy(update=values)}
    )


async def report_to_summary(chat: Chat, shade: int = 0, ivrs: str = "N3330008565") -> None:
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send(ivrs)
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes(color=(shade, 100, 100)))
    await chat.press("Done")
    await chat.press("Skip")


async def count(runtime: Runtime) -> int:
    async with runtime.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(Complaint)) or 0)


async def test_a_second_complaint_within_the_gap_waits(chat: Chat, runtime: Runtime) -> None:
    limit(runtime, min_gap_between_complaints=timedelta(minutes=5))
    await register(chat)
    await report_to_summary(chat)
    await chat.press("Submit")
    chat.expect("Complaint id:")
    await chat.send("/report")
    chat.expect("Please wait 5 more minute(s)")
    assert await count(runtime) == 1


async def test_the_limit_is_checked_again_at_submit_and_nothing_is_lost(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await report_to_summary(chat, shade=10)
    await chat.press("Submit")
    chat.expect("Complaint id:")
    # The second report starts while the limit allows it; the limit drops before it is submitted.
    await report_to_summary(chat, shade=40, ivrs="N3330008567")
    limit(runtime, max_complaints_per_day=1)
    await chat.press("Submit")
    chat.expect("1 complaints in the last 24 hours")
    summary = chat.expect("Please check your complaint")  # still there, ready to submit later
    assert "Photos: 1" in summary.text
    assert await count(runtime) == 1


async def test_a_blocked_citizen_is_told_and_files_nothing(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    async with runtime.db.transaction() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        citizen.blocked = True
    await chat.send("/report")
    chat.expect("Your access to V-Mitra is suspended")
    await chat.send_photo(jpeg_bytes())
    chat.expect("Your access to V-Mitra is suspended")
    assert await count(runtime) == 0
