"""/mydata shows a citizen everything kept about them; /deleteme erases it and keeps anonymous complaints."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import Runtime
from storage.models import ChannelIdentity, Citizen, Complaint
from tests.conversation import Chat
from tests.handlers.test_officer import file_complaint
from tests.world import register


async def test_my_data_lists_what_is_kept(chat: Chat, runtime: Runtime) -> None:
    await register(chat, phone="+919876543210")
    public_id = await file_complaint(chat, note="Wire over the wall")
    await chat.send("/mydata")
    export = chat.expect("Everything V-Mitra keeps about you")
    assert "Mobile number: +919876543210" in export.text
    assert "Used through: telegram" in export.text
    assert "Complaints filed: 1" in export.text
    assert public_id in export.text and "Wire over the wall" in export.text


async def test_erasing_keeps_anonymous_complaints_and_forgets_the_person(chat: Chat, runtime: Runtime) -> None:
    await register(chat, phone="+919876543210")
    public_id = await file_complaint(chat)
    await chat.send("/deleteme")
    chat.expect("Erase your data?")
    await chat.press("No, keep it")
    chat.expect("Nothing was erased")
    await chat.send("/deleteme")
    await chat.press("Yes, erase my data")
    chat.expect("Your data is erased")
    async with runtime.db.reader() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        assert citizen.phone is None and citizen.deleted_at is not None
        assert (await session.scalars(select(ChannelIdentity))).all() == []
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.public_id == public_id and complaint.citizen_id is None
    # Coming back is a fresh start: no old complaints, registration again.
    await chat.send("/status")
    chat.expect("not filed any complaints yet")
    await chat.send("/start")
    chat.expect("Choose your language")
