"""End to end on Telegram: python-telegram-bot's real client long-polls the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import Runtime, build_runtime
from bot.channels.telegram import COMMANDS, SECRET_HEADER, TelegramChannel
from storage.models import Complaint, ComplaintPhoto
from storage.repositories import InboxRepository
from tests.channels.telegram_fixtures import (
    TOKEN,
    bot_api,
    telegram,
    telegram_channel,
    tg_register,
    tg_report_by_ivrs,
    tg_user,
)
from tests.conversation import jpeg_bytes
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.fakes.updates import text_update, user_json
from tests.handlers.test_nearby import add_street

__all__ = ["bot_api", "telegram", "tg_user"]  # fixtures used below


async def complaints(runtime: Runtime) -> int:
    async with runtime.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(Complaint)) or 0)


async def test_commands_are_registered_in_both_languages(bot_api: FakeBotApi, telegram: TelegramChannel) -> None:
    english = [c["command"] for c in bot_api.commands("")]
    hindi = {c["command"]: c["description"] for c in bot_api.commands("hi")}
    assert english == list(COMMANDS)
    assert {"start", "report", "nearby", "status", "stats", "language", "cancel", "help"} <= set(english)
    assert hindi["report"] == "बिजली चोरी की सूचना दें"


async def test_a_full_report_by_ivrs(
    tg_user: Callable[..., TelegramUser], bot_api: FakeBotApi, runtime: Runtime
) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    await ravi.press("Report theft")
    await ravi.expect("Which irregularity")
    await ravi.press("Meter tampering")
    await ravi.press("Yes, I know the IVRS")
    await ravi.expect("Type the IVRS number")
    await ravi.send("N3330008565")
    card = await ravi.expect("Is this the consumer")
    assert "Wright Town" in card.text
    await ravi.press("Yes, this one")
    await ravi.expect("Send 1 to 5 photos")
    await ravi.send_photo(jpeg_bytes(exif_gps=True))
    await ravi.expect("Photo 1 of 5 received")
    await ravi.press("Done")
    await ravi.press("Skip")
    await ravi.expect("Please check your complaint")
    await ravi.press("Submit")
    filed = await ravi.expect("Complaint id: VM-")
    assert "vigilance team will inspect" in filed.text
    # Every button press was answered, exactly once.
    pressed = [c for c in bot_api.calls_of("answerCallbackQuery")]
    assert len(pressed) == len(bot_api.callback_answers) >= 7
    async with runtime.db.reader() as session:
        photo = (await session.scalars(select(ComplaintPhoto))).one()
        stored = runtime.photo_store.path_of(photo.path).read_bytes()
        assert b"Exif" not in stored[:200] and b"PhoneMaker" not in stored  # the largest size, EXIF gone


async def test_a_report_by_location_with_an_album(tg_user: Callable[..., TelegramUser], runtime: Runtime) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    await ravi.send("/report")
    await ravi.press("Electricity theft")
    await ravi.press("No, use my location")
    await ravi.expect("share your current location")
    assert any(b.request_location for b in ravi.reply_keyboard)
    await ravi.share_location(23.16855, 79.93385)
    await ravi.expect("Consumers nearest to you")
    await ravi.press("N3330008566")
    await ravi.expect("Send 1 to 5 photos")
    await ravi.send_album([jpeg_bytes(color=(200, 10, 10)), jpeg_bytes(color=(10, 200, 10))])
    await ravi.expect("Photo 2 of 5 received")
    await ravi.press("Done")
    await ravi.press("Skip")
    await ravi.press("Submit")
    await ravi.expect("Complaint id: VM-")
    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.target_ivrs == "N3330008566"
        photos = (await session.scalars(select(ComplaintPhoto))).all()
        assert len(photos) == 2


async def test_nearby_pages_and_status(tg_user: Callable[..., TelegramUser], runtime: Runtime) -> None:
    await add_street(runtime, 23)
    ravi = tg_user()
    await ravi.send("/nearby")
    await ravi.share_location(23.1600, 79.9200)
    first = await ravi.expect("page 1 of 3, 23 in all")
    assert "1. N4440000000 · 0 m" in first.text
    await ravi.press("Next")
    second = await ravi.expect("page 2 of 3")
    assert "11. N4440000010" in second.text
    await ravi.press("Previous")
    await ravi.expect("page 1 of 3")
    await tg_register(ravi)
    await ravi.send("/status")
    await ravi.expect("not filed any complaints yet")


async def test_bad_input_gets_clear_replies_and_loses_nothing(
    tg_user: Callable[..., TelegramUser], bot_api: FakeBotApi, runtime: Runtime
) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    await ravi.send("/report")
    await ravi.press("Meter tampering")
    await ravi.press("No, use my location")
    await ravi.share_location(28.6139, 77.2090)  # New Delhi
    await ravi.expect("outside MP East Discom's area")
    await ravi.send("/cancel")
    await ravi.expect("Nothing was filed")
    await ravi.send("/report")
    await ravi.press("Meter tampering")
    await ravi.press("Yes, I know the IVRS")
    await ravi.send("🔥" * 300)
    await ravi.expect("does not look like an IVRS number")
    await ravi.send("N33-3000-8565")
    await ravi.press("Yes, this one")
    await ravi.send("the photo is coming")
    await ravi.expect("Please send a photo")
    await ravi.send_document(b"%PDF-1.7 not an image", "application/pdf", "bill.pdf")
    await ravi.expect("That is not a photo")
    big = b"\xff\xd8" + b"\x00" * (25 * 1024 * 1024)
    await ravi.send_document(big, "image/jpeg", "huge.jpg")
    await ravi.expect("That file is too large")
    await ravi.send_sticker()
    await ravi.expect("I cannot use a sticker here")
    await ravi.send_photo(jpeg_bytes())
    await ravi.expect("Photo 1 of 5 received")
    assert await complaints(runtime) == 0
    # The PDF and the 25 MB file were refused from their metadata: only the real photo was fetched.
    assert len(bot_api.calls_of("getFile")) == 1


async def test_the_bot_restarted_half_way_resumes_the_report(bot_api: FakeBotApi, runtime: Runtime) -> None:
    channel = telegram_channel(runtime, bot_api)
    await channel.start()
    ravi = TelegramUser(bot_api, 2002)
    await tg_register(ravi)
    await tg_report_by_ivrs(ravi)
    await ravi.send_photo(jpeg_bytes())
    await ravi.expect("Photo 1 of 5 received")
    await channel.stop()

    restarted = await build_runtime(runtime.settings, runtime.db)
    again = telegram_channel(restarted, bot_api)
    await again.start()
    try:
        await ravi.press("Done")
        await ravi.expect("Add a short note")
        await ravi.press("Skip")
        summary = await ravi.expect("Please check your complaint")
        assert "Photos: 1" in summary.text
        await ravi.press("Submit")
        await ravi.expect("Complaint id: VM-")
    finally:
        await again.stop()
    assert await complaints(runtime) == 1


async def test_an_old_button_gets_a_gentle_reply(tg_user: Callable[..., TelegramUser]) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    await ravi.send("/report")
    menu = await ravi.expect("Which irregularity")
    await ravi.press("Meter tampering")
    await ravi.expect("Do you know the IVRS number")
    await ravi.press("Illegal connection", message=menu)
    await ravi.expect("belongs to an earlier message")


async def test_a_photo_download_that_fails_once_is_tried_again(
    tg_user: Callable[..., TelegramUser], bot_api: FakeBotApi
) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    await tg_report_by_ivrs(ravi)
    bot_api.fail_next("download")  # a Bad Gateway on the way to the file
    await ravi.send_photo(jpeg_bytes())
    await ravi.expect("Photo 1 of 5 received")  # not "could not be downloaded"
    assert len(bot_api.calls_of("getFile")) == 2


async def test_an_update_the_bot_cannot_read_is_skipped_and_the_next_one_is_answered(
    tg_user: Callable[..., TelegramUser], runtime: Runtime
) -> None:
    ravi = tg_user()
    await tg_register(ravi)
    chat = {"id": ravi.chat_id, "type": "private"}
    garbled = {"from": ravi.user, "chat": chat, "date": "yesterday", "entities": "oops", "text": "hi"}
    await ravi.transport.push_update({"message": garbled})  # python-telegram-bot cannot read it
    await ravi.send("/status")
    await ravi.expect("You have not filed any complaint")
    assert await inbox_empties(runtime), "handled updates, the unreadable one too, leave the inbox"


async def inbox_empties(runtime: Runtime, within_s: float = 15.0) -> bool:
    """Whether the inbox is empty within the time (handled rows are cleared about once a second)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        async with runtime.db.reader() as session:
            if not await InboxRepository(session).pending("telegram"):
                return True
        await asyncio.sleep(0.2)
    return False


async def test_the_webhook_needs_the_secret_token(bot_api: FakeBotApi, runtime: Runtime) -> None:
    channel = TelegramChannel(
        runtime.engine,
        TOKEN,
        base_url=bot_api.base_url,
        base_file_url=bot_api.base_file_url,
        webhook_url="https://bot.example.org/telegram/webhook",
        webhook_secret="s3cret-token",
    )
    await channel.start()
    app = web.Application()
    app.router.add_post("/telegram/webhook", channel.webhook)
    try:
        assert bot_api.webhook["url"] == "https://bot.example.org/telegram/webhook"
        async with TestClient(TestServer(app)) as client:
            user = user_json(3003, "Asha", "en")
            bot_api.add_user(user)
            update = {"update_id": 77, **text_update(user, "/help")}
            update["message"]["message_id"] = 1  # what Telegram itself would have numbered
            for headers in ({}, {SECRET_HEADER: "wrong"}):
                refused = await client.post("/telegram/webhook", json=update, headers=headers)
                assert refused.status == 403
            signed = {SECRET_HEADER: "s3cret-token"}
            assert (await client.post("/telegram/webhook", data=b"{not json", headers=signed)).status == 400
            accepted = await client.post("/telegram/webhook", json=update, headers=signed)
            assert accepted.status == 200
            helper = TelegramUser(bot_api, 3003)
            await helper.expect("How V-Mitra works")
            await helper.expect("What would you like to do?")
            # Telegram redelivers the same update: acknowledged, not processed again.
            again = await client.post("/telegram/webhook", json=update, headers=signed)
            assert again.status == 200
            await helper.expect_silence(0.5)
    finally:
        await channel.stop()
