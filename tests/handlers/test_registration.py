"""Registration transcripts: language, terms, own contact only, no documents."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.app import Runtime
from bot.phones import normalise_mobile
from storage.models import Citizen
from tests.conversation import Chat


async def test_new_user_registers_in_english(chat: Chat, runtime: Runtime) -> None:
    await chat.send("/start")
    chat.expect("Choose your language")
    assert chat.buttons() == ["हिन्दी", "English"]
    await chat.press("English")
    chat.expect("Language set to English")
    terms = chat.expect("identity is kept confidential")
    assert "False information earns nothing" in terms.text
    assert "1912" in terms.text
    await chat.press("I agree")
    ask = chat.expect("share your mobile number")
    assert ask.ask == "contact"
    await chat.share_contact("919876543210")
    chat.expect("you are registered")
    chat.expect("What would you like to do?")
    async with runtime.db.reader() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        assert citizen.phone == "+919876543210"
        assert citizen.registered_at is not None
        assert citizen.language == "en"


async def test_hindi_registration_speaks_hindi(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("हिन्दी")
    chat.expect("भाषा हिन्दी चुनी गई")
    chat.expect("गोपनीय")
    await chat.press("सहमत")
    chat.expect("मोबाइल नंबर")
    await chat.share_contact("+91 98765 43210")
    chat.expect("पंजीकरण हो गया")
    chat.expect("आप क्या करना चाहेंगे")


async def test_someone_elses_contact_is_refused(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("English")
    await chat.press("I agree")
    await chat.share_contact("+919812345678", own=False)
    chat.expect("your own number")
    await chat.send("my number is 9876543210")
    chat.expect("press the “Share my number” button")
    await chat.share_contact("+1 202 555 0100")
    chat.expect("not a valid Indian mobile number")
    await chat.share_contact("+919876543210")
    chat.expect("you are registered")


async def test_declining_the_terms_files_nothing_and_keeps_nearby_open(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("English")
    await chat.press("No thanks")
    chat.expect("You can still see nearby consumers")
    await chat.press("Consumers near me")
    chat.expect("Share your current location")


async def test_reporting_requires_registration_then_continues(chat: Chat) -> None:
    await chat.send("/report")
    chat.expect("register once before filing")
    chat.expect("Choose your language")
    await chat.press("English")
    await chat.press("I agree")
    await chat.share_contact("+919876543210")
    chat.expect("you are registered")
    chat.expect("Which irregularity")


async def test_language_can_be_switched_any_time(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("English")
    await chat.press("I agree")
    await chat.share_contact("+919876543210")
    await chat.send("/language")
    await chat.press("हिन्दी")
    chat.expect("भाषा हिन्दी चुनी गई")
    chat.expect("आप क्या करना चाहेंगे")


async def test_one_person_on_two_channels_is_one_citizen(new_chat: Callable[..., Chat], runtime: Runtime) -> None:
    first = new_chat("501")
    second = new_chat("502")
    for chat in (first, second):
        await chat.send("/start")
        await chat.press("English")
        await chat.press("I agree")
        await chat.share_contact("+919876543210")
        chat.expect("you are registered")
    async with runtime.db.reader() as session:
        assert len((await session.scalars(select(Citizen))).all()) == 1


def test_mobile_numbers_are_normalised_to_e164() -> None:
    assert normalise_mobile("9876543210") == "+919876543210"
    assert normalise_mobile("+91 98765-43210") == "+919876543210"
    assert normalise_mobile("919876543210") == "+919876543210"
    assert normalise_mobile("12345") is None
    assert normalise_mobile("+12025550100") is None
    assert normalise_mobile("hello") is None


async def test_a_verified_whatsapp_number_joins_the_registered_citizen_at_once(
    chat: Chat, runtime: Runtime, adapter: object
) -> None:
    from tests.conversation import MemoryAdapter

    await chat.send("/start")
    await chat.press("English")
    await chat.press("I agree")
    await chat.share_contact("+919876543210")
    whatsapp = Chat(runtime.engine, MemoryAdapter(name="whatsapp", numbered_choices=True), user_id="+919876543210")
    await whatsapp.send("/status", verified_phone="+919876543210")
    whatsapp.expect("not filed any complaints yet")  # no language or terms again: already registered
    async with runtime.db.reader() as session:
        assert len((await session.scalars(select(Citizen))).all()) == 1
