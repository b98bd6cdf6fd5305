"""The fake Bot API, exercised by the real python-telegram-bot over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.bot_api import READY_MARK, FakeBotApi
from tests.fakes.telegram_user import HttpTransport, TelegramUser
from tests.fakes.updates import text_update, user_json

TOKEN = "123456:TEST-TOKEN"
ROOT = Path(__file__).resolve().parents[2]


def jpeg(width: int = 1600, height: int = 1200, color: str = "orange") -> bytes:
    """A real JPEG image."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until the condition holds (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_bot(base_url: str, base_file_url: str, *handlers: BaseHandler[Any, Any, Any]
                      ) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """A real PTB Application long-polling the fake; fails the test if a handler raised."""
    app = ApplicationBuilder().token(TOKEN).base_url(base_url).base_file_url(base_file_url).build()
    errors: list[object] = []

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app.add_handlers(list(handlers))
    app.add_error_handler(collect)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert not errors, f"handlers raised: {errors!r}"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as the_bot:
        yield the_bot


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Replies with the same text."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def test_echo_bot_long_polls_the_fake(api: FakeBotApi) -> None:
    ravi, asha = TelegramUser(api, 1001, "Ravi"), TelegramUser(api, 1002, "Asha", language_code="hi")
    async with running_bot(api.base_url, api.base_file_url, MessageHandler(filters.TEXT, echo)):
        await ravi.send("hello")
        await asha.send("नमस्ते")
        assert (await ravi.expect("HELLO")).text == "hello"
        await ravi.send("second")
        assert (await asha.expect("नमस्ते")).text == "नमस्ते"
        assert (await ravi.expect("second")).message_id == 4  # user 1, bot 2, user 3, bot 4: one counter per chat
    called = {c.method for c in api.calls}
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= called
    assert [m.text for m in api.sent(1001)] == ["hello", "second"]
    assert ravi.transcript == [("user", "hello"), ("bot", "hello"), ("user", "second"), ("bot", "second")]
    assert api.pending_updates == []  # PTB confirmed everything with its final offset


async def test_commands_carry_bot_command_entities(api: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"started with args {context.args}")

    async with running_bot(api.base_url, api.base_file_url, CommandHandler("start", start)):
        user = TelegramUser(api, 7)
        await user.send("/start ref42")
        await user.expect("started with args ['ref42']")


async def test_callback_query_is_answered_once(api: FakeBotApi, bot: Bot) -> None:
    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = [[InlineKeyboardButton("English", callback_data="lang:en"),
                     InlineKeyboardButton("हिन्दी", callback_data="lang:hi")]]
        await update.message.reply_text("Choose your language", reply_markup=InlineKeyboardMarkup(keyboard))

    async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("saved")
        await query.edit_message_text(f"Language set: {query.data}")

    async with running_bot(api.base_url, api.base_file_url, CommandHandler("start", ask),
                           CallbackQueryHandler(chosen)):
        user = TelegramUser(api, 55)
        await user.send("/start")
        question = await user.expect("choose your language")
        assert [(b.text, b.callback_data) for b in question.buttons] == [("English", "lang:en"),
                                                                         ("हिन्दी", "lang:hi")]
        await user.press("Engl")
        edited = await user.expect("Language set: lang:en")
    assert edited.is_edit and edited.message_id == question.message_id
    assert edited.buttons == [] and user.buttons == []  # editMessageText without markup drops the keyboard
    [(query_id, answer)] = api.callback_answers.items()
    assert answer["text"] == "saved"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("no-such-query")


async def test_photo_round_trip_through_get_file_and_download(api: FakeBotApi) -> None:
    original = jpeg()
    received: list[bytes] = []

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        sizes = update.message.photo
        assert [s.width for s in sizes] == sorted(s.width for s in sizes) and len(sizes) == 4
        received.append(bytes(await (await sizes[-1].get_file()).download_as_bytearray()))
        thumb = bytes(await (await sizes[0].get_file()).download_as_bytearray())
        assert max(Image.open(io.BytesIO(thumb)).size) == 90
        await update.message.reply_text(f"sha256 {hashlib.sha256(received[-1]).hexdigest()}")

    async with running_bot(api.base_url, api.base_file_url, MessageHandler(filters.PHOTO, on_photo)):
        user = TelegramUser(api, 9)
        await user.send_photo(original, caption="meter")
        await user.expect(hashlib.sha256(original).hexdigest())
    assert received == [original]


async def test_files_over_20_mb_cannot_be_fetched(api: FakeBotApi, bot: Bot) -> None:
    big = api.add_file(b"\xff" * 1024, file_size=21 * 1024 * 1024)
    small = api.add_file(b"tiny", file_size=None)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big)
    assert (await bot.get_file(small)).file_size == 4
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_wrong_token_is_unauthorized_and_unknown_method_not_found(api: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{api.base_url}999:WRONG/getMe")
        assert (response.status_code, response.json()) == (401, {"ok": False, "error_code": 401,
                                                                 "description": "Unauthorized"})
        response = await client.post(f"{api.base_url}{TOKEN}/sendTelepathy")
        assert response.status_code == 404 and response.json()["description"] == "Not Found"
        stored = api.store_file(b"bytes", kind="documents", ext="txt")
        good = await client.get(f"{api.base_file_url}{TOKEN}/{stored.file_path}")
        assert (good.status_code, good.content) == (200, b"bytes")
        assert (await client.get(f"{api.base_file_url}999:WRONG/{stored.file_path}")).status_code == 401
        assert (await client.get(f"{api.base_file_url}{TOKEN}/documents/nope.txt")).status_code == 404
    wrong = Bot("999:WRONG", base_url=api.base_url)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await wrong.initialize()
    await wrong.shutdown()


async def test_set_my_commands_is_recorded_per_language(api: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("report", "Report electricity theft")], language_code="en")
    await bot.set_my_commands([BotCommand("report", "बिजली चोरी की शिकायत")], language_code="hi")
    assert api.commands("en") == [{"command": "report", "description": "Report electricity theft"}]
    assert api.commands("hi")[0]["description"] == "बिजली चोरी की शिकायत"
    assert api.commands("") == []
    assert [c.description for c in await bot.get_my_commands(language_code="hi")] == ["बिजली चोरी की शिकायत"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Report-Now", "bad name")])


async def test_get_updates_offset_never_delivers_an_update_twice(api: FakeBotApi, bot: Bot) -> None:
    user = user_json(3)
    first, second = api.push_update(text_update(user, "a")), api.push_update(text_update(user, "b"))
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]  # unconfirmed: delivered again
    assert [u.update_id for u in await bot.get_updates(offset=second, limit=5)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    polls_before = len(api.calls_of("getUpdates"))
    poll = asyncio.create_task(bot.get_updates(offset=second + 1, timeout=5))
    await until(lambda: len(api.calls_of("getUpdates")) > polls_before)
    await asyncio.sleep(0.05)
    assert not poll.done()  # it is waiting
    started = time.monotonic()
    third = api.push_update(text_update(user, "c"))
    assert [u.update_id for u in await poll] == [third]
    assert time.monotonic() - started < 1.0  # the long poll woke at once
    assert [u.message.text for u in await bot.get_updates(offset=third) if u.message] == ["c"]
    assert await bot.get_updates(offset=third + 1) == ()


async def test_holds_stall_requests_and_redeliver_requeues_a_confirmed_update(api: FakeBotApi, bot: Bot) -> None:
    api.add_user(user_json(4))
    photo = await bot.get_file(api.store_photo(jpeg(320, 240))[-1]["file_id"])
    api.hold("download")
    api.hold("sendMessage", chat_id=4, text="stalled")
    download = asyncio.create_task(photo.download_as_bytearray())
    stalled = asyncio.create_task(bot.send_message(4, "stalled here"))
    assert [h.method for h in sorted(await api.wait_held(2), key=lambda h: h.method)] == ["download", "sendMessage"]
    await bot.send_message(4, "not held")  # another text to the same chat goes through
    stalled.cancel()  # the client gives up: its request never reached the fake
    await until(lambda: len(api.held) == 1)
    api.release()
    assert len(await download) > 0
    assert [m.text for m in api.sent(4)] == ["not held"]
    update_id = api.push_update(text_update(user_json(4), "again"))
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    api.redeliver(update_id)
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert api.deliveries[update_id] == 2


async def test_webhook_is_recorded_and_blocks_polling(api: FakeBotApi, bot: Bot) -> None:
    api.push_update(text_update(user_json(8), "queued"))
    assert await bot.set_webhook("https://bot.example.org/tg", secret_token="s3cret-Token_1")
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://bot.example.org/tg", 1)
    assert api.webhook["secret_token"] == "s3cret-Token_1"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == () and (await bot.get_webhook_info()).url == ""


async def test_a_second_poller_ends_the_first_with_conflict(api: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        first = asyncio.create_task(client.get(f"{api.base_url}{TOKEN}/getUpdates", params={"timeout": 5}))
        await until(lambda: len(api.calls_of("getUpdates")) == 1)
        second = await client.get(f"{api.base_url}{TOKEN}/getUpdates", params={"timeout": 0})
        assert second.json() == {"ok": True, "result": []}
        assert (await first).status_code == 409


async def test_send_methods_and_telegram_errors(api: FakeBotApi, bot: Bot) -> None:
    user = TelegramUser(api, 21)
    await user.join()
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Share location", request_location=True)], ["Cancel"]])
    await bot.send_message(21, "<b>Where</b> are you &amp; the meter?", parse_mode="HTML", reply_markup=keyboard)
    await bot.send_photo(21, jpeg(400, 300), caption="upload")
    stored = api.store_photo(jpeg(200, 100))[-1]["file_id"]
    await bot.send_photo(21, stored)
    await bot.send_location(21, 23.18, 79.95)
    await bot.send_chat_action(21, "typing")
    where = await user.expect("where are you & the meter")
    assert [(b.text, b.request_location) for b in where.buttons] == [("Share location", True), ("Cancel", False)]
    assert "reply_markup" not in where.message  # Telegram echoes only inline keyboards
    assert [m.method for m in await api.wait_for_messages(21, count=3)] == ["sendMessage", "sendPhoto", "sendPhoto"]
    [location] = await api.wait_for_messages(21)
    assert location.method == "sendLocation"
    with pytest.raises(AssertionError, match="expected 1 bot message"):
        await api.wait_for_messages(21, timeout=0.1)
    assert [m.method for m in api.sent(21)] == ["sendMessage", "sendPhoto", "sendPhoto", "sendLocation"]
    assert api.sent(21)[-1].message["location"] == {"latitude": 23.18, "longitude": 79.95}
    assert api.calls_of("sendPhoto")[0].uploads["photo"] > 0
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(21, "reward < 500", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(21, "Complaint VM-2026-000123.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(21, b"not an image")
    by_url = await bot.send_photo(21, "https://example.org/meter.jpg")
    assert by_url.photo and api.calls_of("sendPhoto")[-1].params["photo"] == "https://example.org/meter.jpg"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(21, "AgACunknown")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(404404, "hello?")
    api.block(21)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(21, "still there?")


async def test_edits_follow_telegram_rules(api: FakeBotApi, bot: Bot) -> None:
    await TelegramUser(api, 31).join()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
    sent = await bot.send_message(31, "Confirm?", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Confirm?", 31, sent.message_id, reply_markup=markup)
    await bot.edit_message_reply_markup(31, sent.message_id, reply_markup=None)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", 31, 999)
    assert [e.method for e in api.outbox[31]] == ["sendMessage", "editMessageReplyMarkup"]
    assert api.messages[(31, sent.message_id)].get("reply_markup") is None


async def test_media_group_and_unsupported_messages_reach_the_bot_typed(api: FakeBotApi, bot: Bot) -> None:
    seen: list[str] = []

    async def describe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        assert message is not None
        kind = next(k for k in ("sticker", "voice", "document", "photo", "contact", "location", "text")
                    if getattr(message, k))
        if message.document:
            extra = f"{message.document.file_name},{message.document.mime_type},{message.document.file_size}"
        elif message.contact:
            extra = str(message.contact.user_id)
        else:
            extra = message.media_group_id or ""
        seen.append(f"{kind}:{extra}" if extra else kind)
        await message.reply_text(f"got {kind}")

    async with running_bot(api.base_url, api.base_file_url, MessageHandler(filters.ALL, describe)):
        user = TelegramUser(api, 41)
        await user.send_sticker()
        await user.send_voice()
        await user.send_document(b"%PDF-1.4", "application/pdf", "bill.pdf")
        await user.share_contact("+919800000000", own=True)
        await user.share_location(23.1, 79.9)
        await user.send_album([jpeg(color="red"), jpeg(color="blue")], caption="two angles")
        for kind in ("sticker", "voice", "document", "contact", "location", "photo", "photo"):
            await user.expect(f"got {kind}")
    assert seen[:4] == ["sticker", "voice", "document:bill.pdf,application/pdf,8", "contact:41"]
    assert seen[5].startswith("photo:") and seen[5] == seen[6]
    album = await bot.send_media_group(41, [InputMediaPhoto(jpeg(64, 64)), InputMediaPhoto(jpeg(32, 32))])
    assert len({m.media_group_id for m in album}) == 1 and len(album) == 2


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own RetryAfter.__init__
async def test_flood_limit_answers_retry_after() -> None:
    async with FakeBotApi(token=TOKEN, flood_limit_per_chat_per_s=2) as limited:
        await TelegramUser(limited, 5).join()
        async with Bot(TOKEN, base_url=limited.base_url) as flooded:
            await flooded.send_message(5, "one")
            await flooded.send_message(5, "two")
            with pytest.raises(RetryAfter) as caught:
                await flooded.send_message(5, "three")
    retry_after = caught.value.retry_after  # seconds, or a timedelta with PTB_TIMEDELTA (bot.channels.telegram)
    assert (retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after) == 1
    assert [c.error for c in limited.calls_of("sendMessage")] == [None, None, "Too Many Requests: retry after 1"]


async def test_driver_failures_explain_themselves(api: FakeBotApi, bot: Bot) -> None:
    user = TelegramUser(api, 61)
    await user.send("hi")
    await bot.send_message(61, "Pick one", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("Meter tampering", callback_data="c:1")]]))
    with pytest.raises(AssertionError, match=r"(?s)no bot message containing 'complaint'.*user: hi.*Pick one"):
        await user.expect("complaint", timeout=0.2)
    with pytest.raises(AssertionError, match=r"no button 'Direct hooking'.*\['Meter tampering'\]"):
        await user.press("Direct hooking", timeout=0.2)
    await user.expect_silence(0.05)
    await bot.send_message(61, "late")
    with pytest.raises(AssertionError, match="expected silence"):
        await user.expect_silence(0.05)


async def test_out_of_process_fake_with_http_transport() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.bot_api", "--port", "0", "--token", TOKEN, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        assert line.startswith(READY_MARK), line
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        async with running_bot(fields["base_url"], fields["base_file_url"], MessageHandler(filters.TEXT, echo)), \
                HttpTransport(fields["control_url"]) as transport:
            users = [TelegramUser(transport, 2000 + n) for n in range(3)]
            for user in users:
                await user.send(f"ping from {user.user_id}")
            for user in users:
                reply = await user.expect(f"ping from {user.user_id}")
                assert reply.ts >= user.last_push["ts"]
            photo = await transport.add_photo(jpeg(300, 200))
            assert [p["width"] for p in photo] == [90, 300]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
