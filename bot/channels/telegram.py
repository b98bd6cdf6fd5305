"""The Telegram channel: python-telegram-bot as transport (polling or webhook), drawing neutral replies natively."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from typing import Any

from aiohttp import web
from telegram import Bot, BotCommand, ReplyKeyboardRemove, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.telegram_polling import InboxPoller
from bot.channels.telegram_request import AiohttpRequest
from bot.channels.telegram_wire import MAX_TEXT, event_from_update, markup_for, split_text
from bot.engine import AttachmentTooLarge, AttachmentUnavailable, DialogEngine
from bot.events import Attachment, Reply
from bot.i18n import LANGUAGES, translate
from bot.notifier import DeliveryDeferred, DeliveryFailed

log = logging.getLogger(__name__)
# PTB reads this whenever a time period is accessed: with it, RetryAfter.retry_after is a
# timedelta (the type of PTB's next major version, which _seconds reads), and PTB no longer
# warns about that change each time flood control is hit. An operator's own setting stands.
os.environ.setdefault("PTB_TIMEDELTA", "true")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = ("start", "report", "nearby", "status", "stats", "bank", "language", "mydata", "deleteme", "cancel", "help")
ALLOWED_UPDATES = ["message", "callback_query"]
SEND_ATTEMPTS = 3
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_READ_TIMEOUT_S = 30.0  # a 20 MB photo on a slow link takes longer than an API call


def _seconds(retry_after: Any) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB's settings."""
    return float(retry_after.total_seconds() if hasattr(retry_after, "total_seconds") else retry_after)


class TelegramChannel:
    """Receives updates through python-telegram-bot and sends the engine's replies back."""

    name = "telegram"
    numbered_choices = False

    def __init__(
        self,
        engine: DialogEngine,
        token: str,
        *,
        base_url: str,
        base_file_url: str,
        pool_size: int = 16,
        poll_timeout_s: int = 30,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.engine = engine
        self.poll_timeout_s = poll_timeout_s
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        polling = AiohttpRequest(connection_pool_size=1)
        # A plain Bot rather than PTB's Application: dialogs, polling and the webhook are ours, and
        # Application's ExtBot adds defaults and callback-data handling to every call.
        self._bot = Bot(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=AiohttpRequest(connection_pool_size=pool_size),
            get_updates_request=polling,
        )
        self.poller = InboxPoller(
            self._bot,
            polling,
            engine.db,
            self._handle,
            timeout_s=poll_timeout_s,
            allowed_updates=ALLOWED_UPDATES,
        )
        self._keyboard_open: set[str] = set()

    @property
    def bot(self) -> Bot:
        return self._bot

    async def start(self) -> None:
        """Connect, register the commands in both languages, and start polling (or set the webhook)."""
        await self._bot.initialize()
        await self._set_commands()
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            await self.bot.delete_webhook()
            await self.poller.start()

    async def stop(self) -> None:
        """Stop polling, finish the updates in progress, then close the HTTP client."""
        if not self.webhook_url:
            await self.poller.stop()
        await self.engine.drain()
        await self._bot.shutdown()

    async def _set_commands(self) -> None:
        for language in LANGUAGES:
            commands = [BotCommand(c, translate(language, f"commands.{c}")) for c in COMMANDS]
            await self.bot.set_my_commands(commands, language_code=None if language == "en" else language)

    async def _handle(self, update: Update) -> None:
        """Turns the update into an event, queues it before anything can reorder it, and waits until it is handled."""
        event = event_from_update(update)
        future = self.engine.submit(event, self) if event is not None else None
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramError as exc:
                log.info("callback query not answered: %s", exc)
        if future is not None:
            await asyncio.shield(future)

    async def send(self, external_id: str, replies: list[Reply]) -> None:
        """Draws each reply: photos, a map pin, then the text with its keyboard."""
        chat_id = int(external_id)
        for reply in replies:
            for relative in reply.photos:
                photo = self.engine.photo_store.path_of(relative).read_bytes()
                await self._call(self.bot.send_photo, chat_id=chat_id, photo=photo)
            if reply.pin is not None:
                await self._call(
                    self.bot.send_location, chat_id=chat_id, latitude=reply.pin.latitude, longitude=reply.pin.longitude
                )
            markup = markup_for(reply)
            if markup is None and external_id in self._keyboard_open:
                markup = ReplyKeyboardRemove()
            if markup is not None and not hasattr(markup, "inline_keyboard"):
                if isinstance(markup, ReplyKeyboardRemove):
                    self._keyboard_open.discard(external_id)
                else:
                    self._keyboard_open.add(external_id)
            parts = split_text(reply.text)
            for index, part in enumerate(parts):
                keyboard = markup if index == len(parts) - 1 else None
                await self._call(self.bot.send_message, chat_id=chat_id, text=part, reply_markup=keyboard)

    async def push(self, external_id: str, reply: Reply, kind: str) -> None:
        """One outbox message (a photo, a pin or a text); flood control and blocked users are reported, not hidden."""
        chat_id = int(external_id)
        try:
            if reply.photos:
                photo = self.engine.photo_store.path_of(reply.photos[0]).read_bytes()
                await self.bot.send_photo(chat_id=chat_id, photo=photo, caption=reply.text or None)
            elif reply.pin is not None:
                pin = reply.pin
                await self.bot.send_location(chat_id=chat_id, latitude=pin.latitude, longitude=pin.longitude)
            else:
                await self.bot.send_message(chat_id=chat_id, text=reply.text[:MAX_TEXT], reply_markup=markup_for(reply))
        except RetryAfter as exc:
            raise DeliveryDeferred(_seconds(exc.retry_after), "telegram flood control") from exc
        except Forbidden as exc:
            raise DeliveryFailed("the user has blocked the bot") from exc

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        """One Bot API call, waiting out flood-control answers; a user who blocked the bot is skipped."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await method(**kwargs)
            except RetryAfter as exc:
                delay = _seconds(exc.retry_after)
                log.warning("telegram flood control: retrying after %ss", delay)
                await asyncio.sleep(delay)
            except Forbidden:
                log.info("a user has blocked the bot; message dropped")
                return None
            except TelegramError:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        return None

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Downloads a file with getFile, refusing anything over the limit (Telegram's own is 20 MB).

        A timeout or a network error is tried again (up to DOWNLOAD_ATTEMPTS in all) before the
        user is asked to send the photo again: a busy moment should not cost them a step.
        """
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                file = await self.bot.get_file(attachment.ref)
                if file.file_size is not None and file.file_size > max_bytes:
                    raise AttachmentTooLarge(attachment.ref)
                data = bytes(await file.download_as_bytearray(read_timeout=DOWNLOAD_READ_TIMEOUT_S))
            except BadRequest as exc:
                if "too big" in str(exc).lower():
                    raise AttachmentTooLarge(attachment.ref) from exc
                raise AttachmentUnavailable(attachment.ref) from exc
            except NetworkError as exc:  # timeouts included
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise AttachmentUnavailable(attachment.ref) from exc
                log.info("photo download failed (%s); trying again", exc)
                await asyncio.sleep(0.5 * attempt)
                continue
            except TelegramError as exc:
                raise AttachmentUnavailable(attachment.ref) from exc
            if len(data) > max_bytes:
                raise AttachmentTooLarge(attachment.ref)
            return data
        raise AttachmentUnavailable(attachment.ref)  # not reached: the last attempt returns or raises

    async def webhook(self, request: web.Request) -> web.Response:
        """Telegram's webhook: the secret-token header must match; the update is then processed."""
        expected = self.webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            payload = await request.json()
            update = Update.de_json(payload, self.bot)
        except Exception:
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        # Answered only once handled: until then Telegram keeps the update and, if the bot dies,
        # delivers it again (the engine drops it if it had committed).
        try:
            await self._handle(update)
        except Exception:
            log.exception("a Telegram update from the webhook failed")
        return web.Response(text="ok")
