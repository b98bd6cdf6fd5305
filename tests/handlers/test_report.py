"""Report transcripts: by IVRS, by location, photos, note, summary, edit, cancel and bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import Runtime
from bot.events import LocationSource
from storage.models import Complaint, ComplaintPhoto
from tests.conversation import Chat, jpeg_bytes
from tests.world import register

RED, GREEN, BLUE = (200, 40, 40), (40, 200, 40), (40, 40, 200)


async def complaint_count(runtime: Runtime) -> int:
    async with runtime.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(Complaint)) or 0)


async def test_report_by_ivrs_with_two_photos_and_a_note(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.press("Report theft")
    chat.expect("Which irregularity")
    assert len(chat.buttons()) == 8  # seven categories and the menu
    await chat.press("Meter tampering")
    chat.expect("Do you know the IVRS number")
    await chat.press("Yes, I know the IVRS")
    chat.expect("Type the IVRS number")
    await chat.send("n333 000 8565")
    card = chat.expect("Is this the consumer")
    assert "N3330008565" in card.text and "Wright Town" in card.text and "LV-1" in card.text and "2 kW" in card.text
    assert "Private Name" not in card.text  # names are not shown, only public details
    await chat.press("Yes, this one")
    chat.expect("Send 1 to 5 photos")
    await chat.send_photo(jpeg_bytes(color=RED))
    chat.expect("Photo 1 of 5 received")
    await chat.send_photo(jpeg_bytes(color=GREEN))
    chat.expect("Photo 2 of 5 received")
    await chat.press("Done")
    chat.expect("Add a short note")
    await chat.send("Wire hooked to the pole behind the house, every night after 9 pm.")
    summary = chat.expect("Please check your complaint")
    assert "Meter tampering" in summary.text and "N3330008565" in summary.text and "Photos: 2" in summary.text
    await chat.press("Submit")
    filed = chat.expect("Complaint id: VM-")
    assert "vigilance team will inspect" in filed.text
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert filed.text.count(str(complaint.public_id)) == 1
        assert complaint.category == "meter_tampering"
        assert complaint.target_ivrs == "N3330008565"
        assert complaint.district == "Jabalpur"
        assert complaint.status == "pending"
        assert complaint.note and "hooked" in complaint.note
        photos = (await session.scalars(select(ComplaintPhoto))).all()
        assert len(photos) == 2
        for photo in photos:
            assert runtime.photo_store.path_of(photo.path).exists()


async def test_report_by_location_picks_the_nearest_consumer(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Electricity theft")
    await chat.press("No, use my location")
    ask = chat.expect("share your current location")
    assert ask.ask == "location"
    await chat.share_location(23.16855, 79.93385)
    offer = chat.expect("Consumers nearest to you")
    assert offer.text.index("N3330008565") < offer.text.index("N3330008566")
    await chat.press("N3330008566")
    await chat.send_photo(jpeg_bytes())
    await chat.press("Done")
    await chat.press("Skip")
    summary = chat.expect("Please check your complaint")
    assert "N3330008566" in summary.text and "Note: —" in summary.text
    await chat.press("Submit")
    chat.expect("Complaint id: VM-")
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.target_ivrs == "N3330008566"
        assert abs(complaint.latitude - 23.16855) < 1e-9


async def test_report_by_location_when_unsure_of_the_consumer(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Illegal connection")
    await chat.press("No, use my location")
    await chat.share_location(23.16855, 79.93385)
    await chat.press("Not sure")
    await chat.send_photo(jpeg_bytes())
    await chat.press("Done")
    await chat.press("Skip")
    summary = chat.expect("Please check")
    assert "by location (23.16855, 79.93385)" in summary.text
    await chat.press("Submit")
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.target_ivrs is None and complaint.district == "Jabalpur"


async def test_unknown_ivrs_offers_the_location_path(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N9999999999")
    chat.expect("IVRS N9999999999 is not in the consumer register")
    await chat.press("Use my location")
    chat.expect("share your current location")


async def test_malformed_ivrs_and_emoji_get_a_clear_reply(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("12-ab")
    chat.expect("does not look like an IVRS number")
    await chat.send("😀" * 500)
    wall = chat.expect("does not look like an IVRS number")
    assert len(wall.text) < 400
    await chat.send("N3330008565")
    chat.expect("Is this the consumer")


async def test_wrong_kinds_of_input_at_the_photo_step(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    await chat.send("here is the photo")
    chat.expect("Please send a photo")
    await chat.send_document(b"%PDF-1.4 fake", "application/pdf", "complaint.pdf")
    chat.expect("That is not a photo")
    await chat.send_photo(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    chat.expect("That is not a photo")
    await chat.send_photo(jpeg_bytes(width=20, height=20))
    chat.expect("too small to be useful")
    await chat.send_photo(b"\xff" * (runtime.settings.photos.max_bytes + 1))
    chat.expect("That file is too large")
    await chat.send("", unsupported="sticker")
    chat.expect("I cannot use a sticker here")
    await chat.press("Done")
    chat.expect("At least one photo is needed")
    await chat.send_photo(jpeg_bytes())
    chat.expect("Photo 1 of 5 received")
    await chat.send_photo(jpeg_bytes())
    chat.expect("already sent this photo")
    assert await complaint_count(runtime) == 0


async def test_sixth_photo_is_not_needed(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    for shade in range(5):
        await chat.send_photo(jpeg_bytes(color=(40 * shade, 100, 200 - 30 * shade)))
    chat.expect("5 photos received, that is the most")
    chat.expect("Add a short note")


async def test_typed_coordinates_and_faraway_locations_are_refused(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("No, use my location")
    await chat.send("23.1685, 79.9338")
    chat.expect("typed addresses or coordinates cannot be accepted")
    await chat.share_location(28.6139, 77.2090)  # New Delhi
    chat.expect("outside MP East Discom's area")
    await chat.share_location(23.1685, 79.9338, source=LocationSource.TYPED)
    chat.expect("must come from your phone's GPS")
    await chat.share_location(23.16855, 79.93385)
    chat.expect("Consumers nearest to you")


async def test_cancel_half_way_keeps_nothing(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes())
    await chat.send("/cancel")
    chat.expect("Cancelled. Nothing was filed.")
    chat.expect("What would you like to do?")
    await chat.send("/report")
    await chat.press("Meter tampering")
    chat.expect("Do you know the IVRS number")  # the earlier consumer is forgotten
    assert await complaint_count(runtime) == 0


async def test_edit_from_the_summary_then_submit(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes())
    await chat.press("Done")
    await chat.press("Skip")
    assert "Meter tampering" in chat.expect("Please check").text
    await chat.press("Edit")
    chat.expect("What would you like to change?")
    await chat.press("Irregularity")
    await chat.press("Load above the sanctioned load")
    summary = chat.expect("Please check")
    assert "Load above the sanctioned load" in summary.text
    await chat.press("Edit")
    await chat.press("Note")
    await chat.send("AC units running on a 1 kW connection")
    summary = chat.expect("Please check")
    assert "AC units" in summary.text
    await chat.press("Submit")
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.category == "excess_load" and complaint.note == "AC units running on a 1 kW connection"


async def test_cancel_at_the_summary(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes())
    await chat.press("Done")
    await chat.press("Skip")
    await chat.press("Cancel")
    chat.expect("Nothing was filed")
    assert await complaint_count(runtime) == 0


async def test_an_old_button_gets_a_gentle_reply(chat: Chat) -> None:
    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press_payload("consumer:yes")  # from a confirmation that is no longer on screen
    chat.expect("belongs to an earlier message")
    chat.expect("Do you know the IVRS number")


async def test_the_dialog_resumes_after_a_restart(chat: Chat, runtime: Runtime) -> None:
    from bot.app import build_runtime
    from tests.conversation import Chat as FreshChat

    await register(chat)
    await chat.send("/report")
    await chat.press("Meter tampering")
    await chat.press("Yes, I know the IVRS")
    await chat.send("N3330008565")
    await chat.press("Yes, this one")
    await chat.send_photo(jpeg_bytes())
    # A new engine on the same database is what a restarted process has.
    restarted = await build_runtime(runtime.settings, runtime.db)
    again = FreshChat(restarted.engine, chat.adapter, user_id=chat.user_id)
    again.seen = len(again.replies)
    await again.press("Done")
    again.expect("Add a short note")
    await again.press("Skip")
    summary = again.expect("Please check")
    assert "Photos: 1" in summary.text
    await again.press("Submit")
    again.expect("Complaint id: VM-")


async def test_a_redelivered_update_is_ignored(chat: Chat, runtime: Runtime) -> None:
    await register(chat)
    await chat.send("/report", update_id="dup-1")
    first = len(chat.replies)
    replies = await chat.send("/report", update_id="dup-1")
    assert replies == [] and len(chat.replies) == first
