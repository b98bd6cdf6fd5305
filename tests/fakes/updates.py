"""Wire shapes shared by the fake Bot API and its clients: update builders and recorded bot messages.

Builders return an update without ``update_id`` (and a message without ``message_id``): the fake
assigns both when the update is pushed, as Telegram does. Users are private-chat users, chat id ==
user id.
"""

from __future__ import annotations

import io
import random
import re
import time
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

#: Methods whose events are "messages" a user sees arrive (edits of the text included).
VISIBLE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendLocation", "sendMediaGroup", "editMessageText"})
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_PHOTO_SIDES = (90, 320, 800)  # Telegram's s, m, x thumbnails; the original comes last


def user_json(
    user_id: int, first_name: str = "Ravi", language_code: str | None = "en", *, last_name: str | None = None,
    username: str | None = None,
) -> JSON:
    """A Telegram User object for a human."""
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
    extras = {"last_name": last_name, "username": username, "language_code": language_code}
    user.update({k: v for k, v in extras.items() if v is not None})
    return user


def private_chat(user: JSON) -> JSON:
    """The private Chat object of a user (chat id == user id)."""
    chat: JSON = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}
    chat.update({k: user[k] for k in ("last_name", "username") if k in user})
    return chat


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JSON]:
    """bot_command entities for every /command in the text, as Telegram marks them."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for m in _COMMAND.finditer(text)
    ]


def message_update(user: JSON, **content: Any) -> JSON:
    """A ``message`` update from the user in their private chat, carrying the given content fields."""
    return {"message": {"from": user, "chat": private_chat(user), "date": int(time.time()), **content}}


def text_update(user: JSON, text: str) -> JSON:
    """A text message; /commands get bot_command entities."""
    entities = command_entities(text)
    return message_update(user, text=text, **({"entities": entities} if entities else {}))


def callback_update(user: JSON, message: JSON, data: str) -> JSON:
    """A callback_query from pressing an inline button with ``data`` on the bot's ``message``."""
    query = {
        "id": str(random.getrandbits(62)), "from": user, "message": message,
        "chat_instance": str(-(user["id"] * 7919 % 10**18)), "data": data,
    }
    return {"callback_query": query}


def location_update(user: JSON, latitude: float, longitude: float, horizontal_accuracy: float | None = None) -> JSON:
    """A shared location (the paperclip's Location, or a request_location button)."""
    location: JSON = {"latitude": latitude, "longitude": longitude}
    if horizontal_accuracy is not None:
        location["horizontal_accuracy"] = horizontal_accuracy
    return message_update(user, location=location)


def contact_update(user: JSON, phone: str, own: bool = True, first_name: str | None = None) -> JSON:
    """A shared contact; ``own`` (a request_contact button) sets contact.user_id to the sender."""
    contact: JSON = {"phone_number": phone, "first_name": first_name or (user["first_name"] if own else "Contact")}
    if own:
        contact["user_id"] = user["id"]
        if "last_name" in user:
            contact["last_name"] = user["last_name"]
    return message_update(user, contact=contact)


def photo_update(user: JSON, sizes: list[JSON], caption: str | None = None, media_group_id: str | None = None) -> JSON:
    """A photo message; ``sizes`` are stored PhotoSize objects, smallest first, the original last."""
    content: JSON = {"photo": sizes}
    if caption:
        content["caption"] = caption
    if media_group_id:
        content["media_group_id"] = media_group_id
    return message_update(user, **content)


def document_update(user: JSON, file: JSON, mime_type: str, file_name: str, caption: str | None = None) -> JSON:
    """A file sent as a document (e.g. an uncompressed photo); ``file`` is a stored file's JSON."""
    document = {**_file_ids(file), "file_size": file["file_size"], "mime_type": mime_type, "file_name": file_name}
    return message_update(user, document=document, **({"caption": caption} if caption else {}))


def sticker_update(user: JSON, file: JSON, emoji: str = "👍") -> JSON:
    """A sticker message (something the bot cannot use)."""
    sticker = {
        **_file_ids(file), "file_size": file["file_size"], "type": "regular", "width": 512, "height": 512,
        "is_animated": False, "is_video": False, "emoji": emoji, "set_name": "FakeStickers",
    }
    return message_update(user, sticker=sticker)


def voice_update(user: JSON, file: JSON, duration: int = 3) -> JSON:
    """A voice note (something the bot cannot use)."""
    voice = {**_file_ids(file), "file_size": file["file_size"], "duration": duration, "mime_type": "audio/ogg"}
    return message_update(user, voice=voice)


def _file_ids(file: JSON) -> JSON:
    return {"file_id": file["file_id"], "file_unique_id": file["file_unique_id"]}


def photo_variants(data: bytes) -> list[tuple[bytes, int, int]]:
    """(bytes, width, height) of Telegram-like sizes, smallest first; the original bytes come last.

    The largest size keeps the uploaded bytes untouched (EXIF included), which is stricter than
    Telegram (it re-encodes photos): the bot must strip metadata itself.
    """
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            variants = []
            for side in _PHOTO_SIDES:
                if max(width, height) > side:
                    thumb = img.convert("RGB")
                    thumb.thumbnail((side, side))
                    out = io.BytesIO()
                    thumb.save(out, "JPEG", quality=80)
                    variants.append((out.getvalue(), *thumb.size))
    except Exception:  # not an image Pillow reads: a single size of unknown geometry
        return [(data, 1280, 960)]
    return [*variants, (data, width, height)]


@dataclass(frozen=True)
class Button:
    """One keyboard button as the bot drew it (inline: callback_data/url; reply: request_*)."""

    text: str
    callback_data: str | None = None
    url: str | None = None
    request_location: bool = False
    request_contact: bool = False


@dataclass(frozen=True)
class SentMessage:
    """One bot->chat event the fake recorded: a send, or an edit of an earlier message."""

    seq: int  # position in the chat's event stream, from 0
    method: str
    chat_id: int
    message_id: int
    message: JSON  # the Message as returned to the bot, after this event
    reply_markup: JSON | None  # as the bot sent it (reply keyboards are not echoed in Message)
    ts: float  # the fake's monotonic clock when it recorded the event

    @property
    def text(self) -> str:
        """Text of the message, or its caption; '' for a location or a captionless photo."""
        return self.message.get("text") or self.message.get("caption") or ""

    @property
    def caption(self) -> str | None:
        """Caption of a photo."""
        return self.message.get("caption")

    @property
    def is_edit(self) -> bool:
        """Whether this event edits an earlier message."""
        return self.method.startswith("edit")

    @property
    def inline_buttons(self) -> list[Button]:
        """Buttons of the inline keyboard, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            Button(b["text"], callback_data=b.get("callback_data"), url=b.get("url")) for row in rows for b in row
        ]

    @property
    def keyboard_buttons(self) -> list[Button]:
        """Buttons of the reply keyboard (strings count as plain text buttons), row by row."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [
            Button(b, None) if isinstance(b, str) else Button(
                b["text"], request_location=bool(b.get("request_location")),
                request_contact=bool(b.get("request_contact")),
            )
            for row in rows
            for b in row
        ]

    @property
    def buttons(self) -> list[Button]:
        """Inline buttons if there are any, else reply keyboard buttons."""
        return self.inline_buttons or self.keyboard_buttons

    def describe(self) -> str:
        """One line for transcripts: the text (or what was sent) and the buttons."""
        body = self.text or ("[location]" if "location" in self.message else f"[{self.method}]")
        if self.method == "editMessageReplyMarkup":
            body = f"[keyboard of #{self.message_id} changed]"
        labels = " | ".join(b.text for b in self.buttons)
        return f"{body} [{labels}]" if labels else body

    def to_json(self) -> JSON:
        """A JSON-ready dict (the control API's wire form)."""
        fields = ("seq", "method", "chat_id", "message_id", "message", "reply_markup", "ts")
        return {k: getattr(self, k) for k in fields}

    @classmethod
    def from_json(cls, data: JSON) -> SentMessage:
        """Inverse of to_json."""
        return cls(**data)
