"""Nearby transcripts: consumers within 750 m, ten a page, and a report started from the list."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import Runtime
from storage.models import Complaint, Consumer
from storage.repositories import ConsumerRepository
from tests.conversation import Chat, jpeg_bytes
from tests.world import register


async def add_street(runtime: Runtime, count: int) -> None:
    """`count` consumers in a line east of Wright Town, 20 m apart."""
    async with runtime.db.transaction() as session:
        repo = ConsumerRepository(session)
        for i in range(count):
            await repo.add(
                Consumer(
                    ivrs=f"N44400{i:05d}",
                    address=f"House {i}, Street 7, Jabalpur",
                    district="Jabalpur",
                    category="LV-1",
                    sanctioned_load_kw=1.5,
                    latitude=23.1600,
                    longitude=79.9200 + i * 0.000196,
                )
            )


async def test_nearby_lists_ten_a_page_with_next_and_previous(chat: Chat, runtime: Runtime) -> None:
    await add_street(runtime, 23)
    await chat.send("/nearby")
    ask = chat.expect("every consumer within 750 m")
    assert ask.ask == "location"
    await chat.share_location(23.1600, 79.9200)
    page1 = chat.expect("page 1 of 3, 23 in all")
    assert "1. N4440000000 · 0 m" in page1.text
    assert "2. N4440000001 · 20 m" in page1.text
    assert "House 1, Street 7, Jabalpur · LV-1 · 1.5 kW" in page1.text
    assert "11. " not in page1.text
    assert "Previous" not in " ".join(chat.buttons())
    await chat.press("Next")
    page2 = chat.expect("page 2 of 3")
    assert "11. N4440000010 · 200 m" in page2.text
    await chat.press("Next")
    page3 = chat.expect("page 3 of 3")
    assert "23. N4440000022" in page3.text and "Next" not in " ".join(chat.buttons())
    await chat.press("Previous")
    chat.expect("page 2 of 3")


async def test_a_report_can_start_from_the_list(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/nearby")
    await chat.share_location(23.16850, 79.93380)
    chat.expect("Consumers within 750 m")
    await chat.press("2")
    chat.expect("Which irregularity")
    await chat.press("More than one connection")
    chat.expect("Send 1 to 5 photos")  # the consumer is already chosen
    await chat.send_photo(jpeg_bytes())
    await chat.press("Done")
    await chat.press("Skip")
    summary = chat.expect("Please check")
    assert "N3330008566" in summary.text
    await chat.press("Submit")
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.target_ivrs == "N3330008566"
        assert complaint.category == "multiple_connections"


async def test_nearby_far_from_any_consumer_and_outside_the_area(chat: Chat) -> None:
    await chat.send("/nearby")
    await chat.share_location(19.0760, 72.8777)  # Mumbai
    chat.expect("outside MP East Discom's area")
    await chat.share_location(24.5300, 81.3000)  # Rewa: no consumers in this small register
    chat.expect("No registered consumer within 750 m")
    await chat.press("New location")
    chat.expect("Share your current location")
