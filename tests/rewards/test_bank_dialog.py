"""Bank-account transcripts: a wrong IFSC, account numbers that differ, the masked display, a confirmed change."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.app import Runtime
from storage.models import AuditEntry, Citizen, DialogState
from tests.conversation import Chat, MemoryAdapter
from tests.world import register

NUMBER = "123456789012"
NEW_NUMBER = "998877665544321"


async def enter_account(chat: Chat, number: str = NUMBER, ifsc: str = "PUNB0123400") -> None:
    await chat.send("Ravi Kumar")
    await chat.send(number)
    await chat.send(number)
    await chat.send(ifsc)


async def test_first_account_with_a_wrong_ifsc_and_numbers_that_differ(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = new_chat("1001")
    await register(chat)
    await chat.press("Bank account")
    chat.expect("no bank account of yours yet")
    chat.expect("account holder's name")
    await chat.send("Ravi 42")
    chat.expect("letters, spaces and dots only")
    await chat.send("Ravi Kumar")
    chat.expect("Type the account number (9 to 18 digits)")
    await chat.send("12345")
    chat.expect("must have 9 to 18 digits")
    await chat.send("1234 5678 9012")
    chat.expect("once more")
    await chat.send("123456789013")
    chat.expect("did not match. Please type the account number again")
    await chat.send(NUMBER)
    chat.expect("once more")
    await chat.send(NUMBER)
    chat.expect("IFSC of your branch")
    await chat.send("SBIN1234567")
    chat.expect("That is not an IFSC")
    await chat.send("punb0123400")
    chat.expect("Saved. Rewards will be paid into XXXXXX9012")
    chat.expect("What would you like to do?")  # back at the menu

    await chat.send("/bank")
    shown = chat.expect("Rewards are paid into your bank account XXXXXX9012")
    assert chat.buttons() == ["✏️ Change bank account", "🏠 Main menu"]
    assert "saved on" in shown.text

    # The full number is nowhere: not in a reply, the dialog state, the audit log, the logs, the citizen row.
    async with runtime.db.reader() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        assert citizen.bank_last4 == "9012"
        stored = b"".join(
            filter(None, (citizen.bank_account_encrypted, citizen.bank_holder_encrypted, citizen.bank_ifsc_encrypted))
        )
        states = [json.dumps(s.data) for s in await session.scalars(select(DialogState))]
        audit = [(a.actor, a.action, a.subject, a.details) for a in await session.scalars(select(AuditEntry))]
    assert audit == [(f"citizen:{citizen.id}", "bank_account.add", f"citizen:{citizen.id}", {"last4": "9012"})]
    for secret in (NUMBER, "PUNB0123400", "Ravi Kumar"):
        assert secret.encode() not in stored
        assert not any(secret in state for state in states)
        assert secret not in str(audit)
        assert secret not in caplog.text
        assert not any(secret in r.text for r in chat.replies)


async def test_a_change_asks_for_confirmation_and_is_audit_logged(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    chat = new_chat("1001")
    await register(chat)
    await chat.send("/bank")
    await enter_account(chat)
    chat.expect("Saved. Rewards will be paid into XXXXXX9012")

    await chat.send("/bank")
    await chat.press("Change bank account")
    chat.expect("account holder's name")
    await enter_account(chat, NEW_NUMBER, "HDFC0000123")
    chat.expect("Replace your bank account XXXXXX9012 with XXXXXX4321 (IFSC HDFC0000123)?")
    await chat.press("No, keep the old one")
    chat.expect("Nothing changed. Rewards will still be paid into XXXXXX9012")

    await chat.send("/bank")
    await chat.press("Change bank account")
    await enter_account(chat, NEW_NUMBER, "HDFC0000123")
    await chat.send("maybe")
    chat.expect("Please use the buttons below")
    await chat.press("Yes, replace it")
    chat.expect("Saved. Rewards will be paid into XXXXXX4321")

    async with runtime.db.reader() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        audit = [(a.action, a.details) for a in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert citizen.bank_last4 == "4321"
    assert audit == [
        ("bank_account.add", {"last4": "9012"}),
        ("bank_account.change", {"last4": "4321", "previous_last4": "9012"}),
    ]


async def test_an_unregistered_citizen_registers_first_and_hindi_works(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    chat = new_chat("1002", language="hi")
    await chat.send("/bank")
    chat.expect("पंजीकरण करना होगा")
    await chat.press("हिन्दी")
    await chat.press("सहमत")
    await chat.share_contact("+919876543211")
    chat.expect("खाताधारक का नाम")
    await enter_account(chat)
    chat.expect("सहेज लिया गया। इनाम XXXXXX9012 में भेजा जाएगा।")
