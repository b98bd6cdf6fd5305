"""Look-alike complaints: the citizen is shown the open one and may follow it; reused photos are flagged."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from bot.app import Runtime
from storage.models import Complaint, ComplaintFollower
from tests.conversation import Chat, MemoryAdapter, jpeg_bytes
from tests.handlers.test_officer import add_officer, file_complaint
from tests.world import register, settle


async def to_summary_by_ivrs(chat: Chat, ivrs: str, photo: bytes) -> None:
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send(ivrs)
    await chat.press("Yes, this one")
    await chat.send_photo(photo)
    await chat.press("Done")
    await chat.press("Skip")


async def test_a_second_report_on_the_same_ivrs_can_follow_the_first(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    first = new_chat("1001")
    await register(first, phone="+919811111111")
    public_id = await file_complaint(first)
    second = new_chat("1002")
    await register(second, phone="+919822222222")
    await to_summary_by_ivrs(second, "N3330008565", jpeg_bytes(color=(1, 2, 3)))
    offer = second.expect("already open")
    assert public_id in offer.text
    await second.press(f"Follow {public_id}")
    second.expect(f"You are now following {public_id}")
    async with runtime.db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Complaint)) == 1
        assert await session.scalar(select(func.count()).select_from(ComplaintFollower)) == 1
    await second.send("/status")
    assert public_id in second.expect("Complaints you follow").text
    # The follower hears about progress too.
    inspector = new_chat("9001")
    await settle(runtime)
    await inspector.press("Accept")
    await settle(runtime)
    second.expect(f"Update on {public_id}: a vigilance officer has accepted")
    first.expect(f"Update on {public_id}: a vigilance officer has accepted")


async def test_filing_anyway_and_a_reused_photo_is_flagged_for_the_officer(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    first = new_chat("1001")
    await register(first, phone="+919811111111")
    first_id = await file_complaint(first)
    second = new_chat("1002")
    await register(second, phone="+919822222222")
    # The very same picture the first informant sent (file_complaint's first photo).
    await to_summary_by_ivrs(second, "N3330008565", jpeg_bytes(color=(10, 120, 200)))
    second.expect("already open")
    await second.press("Mine is different")
    second.expect("Please check your complaint")
    await second.press("Submit")
    second_id = second.expect("Complaint id: ").text.split("Complaint id: ")[1].split()[0]
    await settle(runtime)
    inspector = new_chat("9001")
    flagged = inspector.expect(f"New assignment {second_id}")
    assert f"near-identical photo was sent with {first_id}" in flagged.text
