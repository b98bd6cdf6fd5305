"""A simulated Telegram user for dialog tests and benchmarks; knows Telegram, not the bot's dialog.

    user = TelegramUser(api, 1001, first_name="Ravi", language_code="en")
    await user.send("/start")
    await user.expect("choose your language")
    await user.press("English")
    await user.share_location(23.18, 79.95)

The user reaches the fake through a Transport: in-process (pass the FakeBotApi itself) or over the
control API of a fake in another process (pass an HttpTransport, shared by many users).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from pathlib import PurePath
from typing import Any, Protocol

import aiohttp

from tests.fakes.bot_api_state import BotApiState
from tests.fakes.updates import (
    JSON,
    VISIBLE_METHODS,
    Button,
    SentMessage,
    callback_update,
    contact_update,
    document_update,
    location_update,
    photo_update,
    sticker_update,
    text_update,
    user_json,
    voice_update,
)

_STICKER_BYTES = b"RIFF\x1a\x00\x00\x00WEBPVP8 fake-sticker"
_VOICE_BYTES = b"OggS\x00\x02fake-voice-note"


class Transport(Protocol):
    """How a TelegramUser reaches the fake Bot API."""

    async def add_user(self, user: JSON) -> None:
        """Make the user's chat known to the fake."""

    async def push_update(self, update: JSON) -> JSON:
        """Queue an update; returns {"update_id", "ts"} (ts on the fake's monotonic clock)."""

    async def add_file(self, data: bytes, kind: str, ext: str) -> JSON:
        """Store bytes; returns the File JSON (file_id, file_unique_id, file_size, file_path)."""

    async def add_photo(self, data: bytes) -> list[JSON]:
        """Store a photo as several sizes; returns the PhotoSize list, largest last."""

    async def events(self, chat_id: int, after: int, timeout: float) -> list[SentMessage]:  # noqa: ASYNC109
        """Bot->chat events with seq >= after, waiting up to timeout for at least one."""


class InProcessTransport:
    """Transport to a FakeBotApi running on this event loop."""

    def __init__(self, api: BotApiState) -> None:
        self.api = api

    async def add_user(self, user: JSON) -> None:
        """See Transport."""
        self.api.add_user(user)

    async def push_update(self, update: JSON) -> JSON:
        """See Transport."""
        return {"update_id": self.api.push_update(update), "ts": time.monotonic()}

    async def add_file(self, data: bytes, kind: str, ext: str) -> JSON:
        """See Transport."""
        return self.api.store_file(data, kind=kind, ext=ext).to_json()

    async def add_photo(self, data: bytes) -> list[JSON]:
        """See Transport."""
        return self.api.store_photo(data)

    async def events(self, chat_id: int, after: int, timeout: float) -> list[SentMessage]:  # noqa: ASYNC109
        """See Transport."""
        return await self.api.events(chat_id, after, timeout)


class HttpTransport:
    """Transport over the control API of a fake in another process; one instance serves many users."""

    def __init__(self, control_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    @classmethod
    def for_base_url(cls, base_url: str) -> HttpTransport:
        """The transport for a fake whose Bot API base_url is http://host:port/bot."""
        return cls(base_url.rsplit("/", 1)[0] + "/_control")

    async def __aenter__(self) -> HttpTransport:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this transport opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, verb: str, path: str, **kwargs: Any) -> Any:
        if self._session is None:
            raise RuntimeError("use `async with HttpTransport(...)` (or pass a session)")
        async with self._session.request(verb, f"{self.control_url}/{path}", **kwargs) as response:
            response.raise_for_status()
            return await response.json()

    async def add_user(self, user: JSON) -> None:
        """See Transport."""
        await self._call("POST", "users", json=user)

    async def push_update(self, update: JSON) -> JSON:
        """See Transport."""
        return await self._call("POST", "updates", json=update)

    async def add_file(self, data: bytes, kind: str, ext: str) -> JSON:
        """See Transport."""
        return await self._call("POST", "files", data=data, params={"kind": kind, "ext": ext})

    async def add_photo(self, data: bytes) -> list[JSON]:
        """See Transport."""
        return (await self._call("POST", "photos", data=data))["sizes"]

    async def events(self, chat_id: int, after: int, timeout: float) -> list[SentMessage]:  # noqa: ASYNC109
        """See Transport."""
        query = {"chat_id": chat_id, "after": after, "timeout": timeout}
        body = await self._call("GET", "events", params=query)
        return [SentMessage.from_json(e) for e in body["events"]]


class TelegramUser:
    """A user in a private chat with the bot: sends updates, presses buttons, expects replies."""

    def __init__(self, api: BotApiState | Transport, user_id: int, first_name: str = "Ravi",
                 language_code: str | None = "en", *, last_name: str | None = None,
                 username: str | None = None) -> None:
        self.transport: Transport = InProcessTransport(api) if isinstance(api, BotApiState) else api
        self.user = user_json(user_id, first_name, language_code, last_name=last_name, username=username)
        self.user_id = self.chat_id = user_id
        self.transcript: list[tuple[str, str]] = []
        self.messages: dict[int, SentMessage] = {}  # latest version of every bot message, by message_id
        self.reply_keyboard: list[Button] = []  # the reply keyboard currently shown, if any
        self.last_push: JSON = {}  # {"update_id", "ts"} of the latest update this user sent
        self.last_message: SentMessage | None = None  # the latest bot message received so far
        self._next_seq = 0
        self._unread: deque[SentMessage] = deque()

    # ---- what the user does ------------------------------------------------------------------
    async def join(self) -> None:
        """Open the chat without sending anything (lets the bot write first, e.g. to an officer)."""
        await self.transport.add_user(self.user)

    async def send(self, text: str) -> int:
        """Send a text message (/commands get bot_command entities); returns the update_id."""
        return await self._push(text_update(self.user, text), text)

    async def press(self, label: str, timeout: float = 5.0, *, message: SentMessage | None = None) -> int:  # noqa: ASYNC109
        """Press the button whose text is (or contains) ``label`` on the latest keyboard; returns update_id.

        Inline buttons send a callback_query with their callback_data; a plain reply-keyboard button
        sends its text. Waits up to ``timeout`` for the button to appear.
        """
        deadline = time.monotonic() + timeout
        await self._fetch(0)
        while (found := self._find_button(label, message)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                labels = [b.text for b in self.buttons]
                raise AssertionError(self._failure(f"no button {label!r} on the latest keyboard; buttons: {labels}"))
            await self._fetch(remaining)
        on_message, button = found
        if on_message is not None:
            if button.callback_data is None:
                raise AssertionError(f"button {button.text!r} opens {button.url!r}; it sends nothing to the bot")
            update = callback_update(self.user, on_message.message, button.callback_data)
            return await self._push(update, f"[pressed {button.text!r}]")
        if button.request_location or button.request_contact:
            raise AssertionError(f"button {button.text!r} asks for a location/contact: use share_location/contact")
        return await self.send(button.text)

    async def share_location(self, latitude: float, longitude: float, horizontal_accuracy: float | None = None) -> int:
        """Share a location (as the request_location button or the paperclip would)."""
        update = location_update(self.user, latitude, longitude, horizontal_accuracy)
        return await self._push(update, f"[location {latitude}, {longitude}]")

    async def share_contact(self, phone: str, own: bool = True, first_name: str | None = None) -> int:
        """Share a contact; ``own`` means the user's own number (contact.user_id == user id)."""
        update = contact_update(self.user, phone, own, first_name)
        return await self._push(update, f"[contact {phone}{' (own)' if own else ''}]")

    async def send_photo(self, data: bytes, caption: str | None = None) -> int:
        """Send a compressed photo (stored in several sizes, largest last)."""
        sizes = await self.transport.add_photo(data)
        return await self._push(photo_update(self.user, sizes, caption), f"[photo {len(data)} bytes] {caption or ''}")

    async def send_album(self, photos: list[bytes], caption: str | None = None) -> list[int]:
        """Send several photos at once: one message each, sharing a media_group_id (caption on the first)."""
        group_id = str(random.getrandbits(60))
        ids = []
        for n, data in enumerate(photos):
            sizes = await self.transport.add_photo(data)
            update = photo_update(self.user, sizes, caption if n == 0 else None, media_group_id=group_id)
            ids.append(await self._push(update, f"[album photo {n + 1}/{len(photos)}]"))
        return ids

    async def send_document(self, data: bytes, mime_type: str, file_name: str, caption: str | None = None) -> int:
        """Send a file as a document (e.g. an uncompressed photo, a PDF)."""
        ext = PurePath(file_name).suffix.lstrip(".") or "bin"
        file = await self.transport.add_file(data, "documents", ext)
        update = document_update(self.user, file, mime_type, file_name, caption)
        return await self._push(update, f"[document {file_name} {mime_type}]")

    async def send_sticker(self) -> int:
        """Send a sticker."""
        file = await self.transport.add_file(_STICKER_BYTES, "stickers", "webp")
        return await self._push(sticker_update(self.user, file), "[sticker]")

    async def send_voice(self) -> int:
        """Send a voice note."""
        file = await self.transport.add_file(_VOICE_BYTES, "voice", "oga")
        return await self._push(voice_update(self.user, file), "[voice]")

    # ---- what the user sees ------------------------------------------------------------------
    async def expect(self, fragment: str, timeout: float = 5.0) -> SentMessage:  # noqa: ASYNC109
        """Wait for a bot message containing ``fragment`` (case-insensitive); earlier ones are skipped."""
        needle = fragment.casefold()
        deadline = time.monotonic() + timeout
        while True:
            while self._unread:
                message = self._unread.popleft()
                if needle in message.text.casefold():
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(self._failure(f"no bot message containing {fragment!r} within {timeout}s"))
            await self._fetch(remaining)

    async def next_message(self, timeout: float = 5.0) -> SentMessage:  # noqa: ASYNC109
        """The next bot message not yet consumed by expect/next_message."""
        if not self._unread:
            await self._fetch(timeout)
        if not self._unread:
            raise AssertionError(self._failure(f"no bot message within {timeout}s"))
        return self._unread.popleft()

    async def expect_silence(self, seconds: float = 0.3) -> None:
        """Assert that the bot sends nothing new within ``seconds`` (e.g. a duplicate update was ignored)."""
        await self._fetch(0)
        if not self._unread:
            await asyncio.sleep(seconds)
            await self._fetch(0)
        if self._unread:
            raise AssertionError(self._failure(f"expected silence, got {self._unread[0].describe()!r}"))

    @property
    def buttons(self) -> list[Button]:
        """Buttons of the latest inline keyboard, else of the reply keyboard shown."""
        inline = self._latest_inline()
        return inline.inline_buttons if inline else list(self.reply_keyboard)

    # ---- internals ---------------------------------------------------------------------------
    async def _push(self, update: JSON, note: str) -> int:
        self.transcript.append(("user", note))
        self.last_push = await self.transport.push_update(update)
        return int(self.last_push["update_id"])

    async def _fetch(self, timeout: float) -> None:  # noqa: ASYNC109
        for event in await self.transport.events(self.chat_id, self._next_seq, timeout):
            self._next_seq = event.seq + 1
            self.messages[event.message_id] = event
            markup = event.reply_markup or {}
            if "keyboard" in markup:
                self.reply_keyboard = event.keyboard_buttons
            elif markup.get("remove_keyboard"):
                self.reply_keyboard = []
            self.transcript.append(("bot", event.describe()))
            if event.method in VISIBLE_METHODS:
                self._unread.append(event)
                self.last_message = event

    def _latest_inline(self) -> SentMessage | None:
        with_keyboard = [m for m in self.messages.values() if m.inline_buttons]
        return max(with_keyboard, key=lambda m: m.message_id, default=None)

    def _find_button(self, label: str, message: SentMessage | None) -> tuple[SentMessage | None, Button] | None:
        inline = self.messages.get(message.message_id, message) if message else self._latest_inline()
        candidates: list[tuple[SentMessage | None, Button]] = []
        if inline is not None:
            candidates += [(inline, b) for b in inline.inline_buttons]
        if message is None:
            candidates += [(None, b) for b in self.reply_keyboard]
        for matches in (lambda t: t == label, lambda t: label.casefold() in t.casefold()):
            for on_message, button in candidates:
                if matches(button.text):
                    return on_message, button
        return None

    def _failure(self, what: str, last: int = 25) -> str:
        lines = [f"  {who:>4}: {text}" for who, text in self.transcript[-last:]]
        return f"{what} (user {self.user_id})\ntranscript:\n" + "\n".join(lines or ["  (empty)"])
