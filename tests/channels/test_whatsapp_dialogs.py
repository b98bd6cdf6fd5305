"""The same dialogs over WhatsApp: numbered lists, location messages, photos from Twilio's media store."""

# ruff: noqa: F811  (the fixtures imported below come back as test parameters)

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select

from bot.app import Runtime
from storage.models import Citizen, Complaint, ComplaintPhoto
from tests.channels.whatsapp_fixtures import (  # noqa: F401  (fixtures, used as parameters)
    SDK_DEPRECATIONS,
    new_wa_user,
    register_on_whatsapp,
    twilio,
    wa,
    wa_client,
    wa_runtime,
    wa_settings,
    whatsapp,
)
from tests.conversation import Chat, MemoryAdapter, jpeg_bytes
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fakes.whatsapp_user import WhatsAppUser

WRIGHT_TOWN = (23.16850, 79.93380)

pytestmark = SDK_DEPRECATIONS


async def complaints(runtime: Runtime) -> list[Complaint]:
    async with runtime.db.reader() as session:
        return list(await session.scalars(select(Complaint).order_by(Complaint.id)))


def complaint_id(text: str) -> str:
    match = re.search(r"VM-\d{4}-\d{6}", text)
    assert match, text
    return match.group(0)


async def test_registration_skips_the_contact_step(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    await wa.send("hi")
    await wa.send("2")
    wa.expect("Language set to English")
    wa.expect("Do you agree?")
    await wa.send("1")
    wa.expect("Thank you, you are registered")
    menu = wa.expect("What would you like to do?")
    assert "1. 📝 Report theft" in menu.body
    assert "share your mobile number" not in wa.transcript()
    async with wa_runtime.db.reader() as session:
        citizen = (await session.scalars(select(Citizen))).one()
        assert citizen.phone == "+919876543210" and citizen.registered_at is not None


async def test_a_full_report_by_ivrs(wa: WhatsAppUser, wa_runtime: Runtime, twilio: FakeTwilioApi) -> None:
    await register_on_whatsapp(wa)
    await wa.send("report")
    category = wa.expect("Which irregularity")
    assert "2. Meter tampering" in category.body
    await wa.send("2")
    wa.expect("Do you know the IVRS number")
    await wa.send("1")
    wa.expect("Type the IVRS number")
    await wa.send("N3330008565")
    wa.expect("Is this the consumer")
    wa.expect("H.No 12, Wright Town")
    await wa.send("1")
    photos = wa.expect("Send 1 to 5 photos")
    assert "Tap 📎 → Camera or Gallery" in photos.body
    await wa.send_photo(jpeg_bytes(exif_gps=True))
    wa.expect("Photo 1 of 5 received")
    await wa.send("1")
    wa.expect("Add a short note")
    await wa.send("1")
    summary = wa.expect("Please check your complaint")
    assert "Meter tampering" in summary.body and "N3330008565" in summary.body and "Photos: 1" in summary.body
    await wa.send("1")
    filed = wa.expect("Your complaint is filed")
    [complaint] = await complaints(wa_runtime)
    assert complaint.public_id == complaint_id(filed.body)
    assert complaint.channel == "whatsapp" and complaint.target_ivrs == "N3330008565"
    assert complaint.category == "meter_tampering"
    media = [r for r in twilio.media_requests if "/Media/" in r.path]
    assert media and all(r.authorized for r in media)


async def test_a_full_report_by_location_with_photos_in_hindi(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    await wa.send("नमस्ते")
    await wa.send("1")  # हिन्दी
    wa.expect("भाषा हिन्दी चुनी गई")
    await wa.send("१")  # सहमत, typed with a Devanagari digit
    wa.expect("पंजीकरण हो गया")
    await wa.send("शिकायत")
    category = wa.expect("आप किस अनियमितता")
    assert "1. बिजली चोरी" in category.body
    await wa.send("बिजली चोरी (हुकिंग / सीधी सप्लाई)")  # the label itself works as well as its number
    await wa.send("2")  # नहीं, मेरा स्थान लें
    ask = wa.expect("वर्तमान स्थान साझा करें")
    assert "📎 → लोकेशन" in ask.body
    await wa.send_location(*WRIGHT_TOWN)
    pick = wa.expect("आपके सबसे पास के उपभोक्ता")
    assert "1. N3330008565" in pick.body
    await wa.send("1")
    wa.expect("फ़ोटो भेजें")
    await wa.send_photo(jpeg_bytes(color=(10, 200, 10)), jpeg_bytes(color=(10, 10, 200)))  # one message, two photos
    wa.expect("5 में से 2 फ़ोटो मिली")
    await wa.send("1")
    await wa.send("खंभे से सीधा तार जोड़ा गया है")
    summary = wa.expect("फ़ोटो: 2")
    assert "N3330008565" in summary.body
    await wa.send("1")
    wa.expect("VM-")
    [complaint] = await complaints(wa_runtime)
    assert complaint.category == "theft" and complaint.latitude is not None
    assert complaint.note == "खंभे से सीधा तार जोड़ा गया है"
    async with wa_runtime.db.reader() as session:
        photos = list(await session.scalars(select(ComplaintPhoto).where(ComplaintPhoto.complaint_id == complaint.id)))
    assert len(photos) == 2


async def test_a_picked_place_is_not_evidence_but_the_current_location_is(wa: WhatsAppUser) -> None:
    await register_on_whatsapp(wa)
    await wa.send("report")
    await wa.send("1")
    await wa.send("2")
    wa.expect("share your current location")
    await wa.send_location(*WRIGHT_TOWN, address="Wright Town, Jabalpur", label="Some shop")
    wa.expect("must come from your phone's GPS")
    await wa.send_location(19.0760, 72.8777)  # Mumbai
    wa.expect("outside MP East Discom's area")
    await wa.send_location(*WRIGHT_TOWN)
    wa.expect("Consumers nearest to you")


async def test_nearby_lists_consumers_and_a_number_starts_a_report(wa: WhatsAppUser) -> None:
    await register_on_whatsapp(wa)
    await wa.send("nearby")
    wa.expect("every consumer within 750 m")
    await wa.send_location(*WRIGHT_TOWN, address="Wright Town", label="Home")  # browsing may use a picked place
    page = wa.expect("Consumers within 750 m")
    assert "1. N3330008565 · 0 m" in page.body
    assert "4. 📍 New location" in page.body and "5. 🏠 Main menu" in page.body
    assert "\n1. 1\n" not in page.body  # the numbers of the list are not repeated as choices
    await wa.send("2")
    wa.expect("Which irregularity")
    await wa.send("More than one connection at one premises")
    wa.expect("Send 1 to 5 photos")


async def test_status_lists_the_complaints_and_opens_one(wa: WhatsAppUser) -> None:
    await wa.send("status")
    wa.expect("You have not filed any complaints yet")
    await file_by_ivrs(wa)
    public_id = complaint_id(wa.expect("Your complaint is filed").body)
    await wa.send("स्थिति")
    listing = wa.expect("Your complaints")
    assert f"1. {public_id}" in listing.body
    await wa.send(public_id)  # typing the label picks it too
    detail = wa.expect(f"Complaint {public_id}")
    assert "Status: Pending" in detail.body


async def test_text_commands_help_cancel_menu(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    await register_on_whatsapp(wa)
    await wa.send("/report")
    await wa.send("2")
    await wa.send("help")
    wa.expect("How V-Mitra works")
    wa.expect("Do you know the IVRS number")  # the same step again, nothing lost
    await wa.send("मदद")
    wa.expect("How V-Mitra works")
    await wa.send("Cancel")
    wa.expect("Cancelled. Nothing was filed.")
    await wa.send("menu")
    wa.expect("What would you like to do?")
    assert await complaints(wa_runtime) == []


async def test_non_image_media_is_not_a_photo(wa: WhatsAppUser, twilio: FakeTwilioApi) -> None:
    await start_photos(wa)
    url = twilio.add_media(b"%PDF-1.4 not a photo", "application/pdf")
    await wa.send_media((url, "application/pdf"))
    wa.expect("That is not a photo")
    assert twilio.media_requests == []  # refused by its type, never downloaded
    disguised = twilio.add_media(b"%PDF-1.4 not a photo", "image/jpeg")
    await wa.send_media((disguised, "image/jpeg"))
    wa.expect("That is not a photo")


async def test_a_30_mb_image_is_refused_without_reading_it(wa: WhatsAppUser, twilio: FakeTwilioApi) -> None:
    await start_photos(wa)
    huge = b"\xff\xd8\xff\xe0" + b"\x00" * (30 * 1024 * 1024)
    await wa.send_media((twilio.add_media(huge, "image/jpeg"), "image/jpeg"))
    wa.expect("That file is too large (the limit is 10 MB)")
    assert twilio.bytes_served < 5 * 1024 * 1024  # refused by its Content-Length
    twilio.bytes_served = 0
    await wa.send_media((twilio.add_media(huge, "image/jpeg", declare_length=False), "image/jpeg"))
    wa.expect("That file is too large")
    assert twilio.bytes_served < 20 * 1024 * 1024  # streamed and abandoned past the limit
    await wa.send_photo(jpeg_bytes())
    wa.expect("Photo 1 of 5 received")


async def test_credentials_go_to_twilio_but_not_to_its_cdn(wa: WhatsAppUser, twilio: FakeTwilioApi) -> None:
    await start_photos(wa)
    await wa.send_photo(jpeg_bytes())
    wa.expect("Photo 1 of 5 received")
    api, cdn = twilio.media_requests
    assert api.host.startswith("127.0.0.1") and api.authorized
    assert cdn.host.startswith("localhost") and not cdn.authorized


async def test_one_person_on_whatsapp_and_telegram_is_one_citizen(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    await file_by_ivrs(wa)
    public_id = complaint_id(wa.expect("Your complaint is filed").body)
    telegram = Chat(wa_runtime.engine, MemoryAdapter(name="telegram"), user_id="5001")
    await telegram.send("/start")
    await telegram.press("English")
    await telegram.press("agree")
    await telegram.share_contact("+91 98765 43210")
    telegram.expect("you are registered")
    await telegram.send("/status")
    assert public_id in telegram.expect("Your complaints").text
    await telegram.send("/report")
    await telegram.press("Illegal connection")
    await telegram.press("Yes, I know the IVRS")
    await telegram.send("N3330008566")
    await telegram.press("Yes, this one")
    await telegram.send_photo(jpeg_bytes(color=(90, 90, 20)))
    await telegram.press("Done")
    await telegram.press("Skip")
    await telegram.press("Submit")
    second = complaint_id(telegram.expect("Your complaint is filed").text)
    await wa.send("status")
    listing = wa.expect("Your complaints")
    assert public_id in listing.body and second in listing.body
    async with wa_runtime.db.reader() as session:
        assert len((await session.scalars(select(Citizen))).all()) == 1


async def test_two_numbers_are_two_citizens(new_wa_user: Callable[..., WhatsAppUser], wa_runtime: Runtime) -> None:
    first, second = new_wa_user("+919876543210"), new_wa_user("+919812345678")
    await file_by_ivrs(first)
    await second.send("status")
    second.expect("You have not filed any complaints yet")


async def start_photos(wa: WhatsAppUser) -> None:
    await register_on_whatsapp(wa)
    await wa.send("report")
    await wa.send("2")
    await wa.send("1")
    await wa.send("N3330008565")
    await wa.send("1")
    wa.expect("Send 1 to 5 photos")


async def file_by_ivrs(wa: WhatsAppUser) -> None:
    await start_photos(wa)
    await wa.send_photo(jpeg_bytes())
    for _ in range(3):  # Done, Skip, Submit
        await wa.send("1")
