"""Status transcripts: my complaints, newest first, and one complaint's detail and history."""

from __future__ import annotations

from bot.app import Runtime
from storage.repositories import ComplaintRepository
from tests.conversation import Chat, jpeg_bytes
from tests.world import register


async def file_by_ivrs(chat: Chat, category: str, ivrs: str) -> str:
    await chat.send("/report")
    await chat.press(category)
    await chat.press("Yes, I know the IVRS")
    await chat.send(ivrs)
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes(color=(len(category) * 9 % 255, 90, 30)))
    await chat.press("Done")
    await chat.press("Skip")
    await chat.press("Submit")
    filed = chat.expect("Complaint id: ")
    return filed.text.split("Complaint id: ")[1].split()[0]


async def test_status_lists_complaints_and_opens_one(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/status")
    chat.expect("not filed any complaints yet")
    first = await file_by_ivrs(chat, "Meter tampering", "N3330008565")
    second = await file_by_ivrs(chat, "Electricity theft", "N3330008566")
    async with runtime.db.transaction() as session:
        complaints = ComplaintRepository(session)
        complaint = await complaints.by_public_id(first)
        assert complaint is not None
        await complaints.transition(complaint, "assigned", actor_kind="system")
        await complaints.transition(complaint, "complete", actor_kind="officer", outcome="confirmed")
    await chat.send("/status")
    listing = chat.expect("Your complaints")
    assert listing.text.index(second) < listing.text.index(first)
    assert f"{second} · Electricity theft (hooking / direct supply) · Pending" in listing.text
    assert f"{first} · Meter tampering · Complete: irregularity confirmed" in listing.text
    await chat.press(first)
    detail = chat.expect(f"Complaint {first}")
    assert "Status: Complete: irregularity confirmed" in detail.text
    assert detail.text.count("• ") == 3  # pending, in process, complete
    assert ": Pending" in detail.text and ": In process" in detail.text
    await chat.press("Back to my complaints")
    chat.expect("Your complaints")


async def test_another_citizens_complaint_cannot_be_opened(new_chat, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    owner = new_chat("701")
    await register(owner, phone="+919811111111")
    public_id = await file_by_ivrs(owner, "Meter tampering", "N3330008565")
    async with runtime.db.reader() as session:
        complaint = await ComplaintRepository(session).by_public_id(public_id)
        assert complaint is not None
    snoop = new_chat("702")
    await register(snoop, phone="+919822222222")
    await snoop.send("/status")
    await snoop.press_payload(f"st:open:{complaint.id}")
    assert public_id not in snoop.last.text
