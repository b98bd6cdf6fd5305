"""Telegram wire format <-> neutral events and replies (pure functions, no network)."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, MessageEntityType

from bot.events import Ask, Attachment, Contact, InboundEvent, Location, LocationSource, Reply

CHANNEL = "telegram"
MAX_TEXT = 4096

# Message kinds we cannot use, by the attribute that carries them.
UNSUPPORTED_KINDS = ("sticker", "voice", "video", "video_note", "audio", "animation", "poll", "dice", "game")

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def event_from_update(update: Update) -> InboundEvent | None:
    """The neutral event for an update, or None for updates the bot ignores (edits, groups, channels)."""
    update_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != ChatType.PRIVATE:
            return None
        return InboundEvent(
            channel=CHANNEL,
            external_id=str(query.from_user.id),
            update_id=update_id,
            choice=query.data or "",
            language_hint=query.from_user.language_code,
        )
    message = update.message
    if message is None or message.chat.type != ChatType.PRIVATE or message.from_user is None:
        return None
    base = {
        "channel": CHANNEL,
        "external_id": str(message.chat.id),
        "update_id": update_id,
        "language_hint": message.from_user.language_code,
    }
    return InboundEvent(**base, **_message_fields(message))  # type: ignore[arg-type]


def _message_fields(message: Message) -> dict[str, object]:
    if message.text is not None:
        command = _command(message)
        return {"text": message.text, "command": command}
    if message.location is not None:
        loc = message.location
        return {"location": Location(loc.latitude, loc.longitude, LocationSource.GPS)}
    if message.contact is not None:
        contact = message.contact
        own = contact.user_id is not None and message.from_user is not None and contact.user_id == message.from_user.id
        return {"contact": Contact(phone=contact.phone_number, is_own=own)}
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return {"attachments": (Attachment(ref=largest.file_id, mime_type="image/jpeg", size_bytes=largest.file_size),)}
    if message.document is not None:
        doc = message.document
        attachment = Attachment(
            ref=doc.file_id, mime_type=doc.mime_type, size_bytes=doc.file_size, file_name=doc.file_name, is_photo=False
        )
        return {"attachments": (attachment,)}
    for kind in UNSUPPORTED_KINDS:
        if getattr(message, kind, None):
            return {"unsupported": kind.replace("_", " ")}
    return {"unsupported": "message of this kind"}


def _command(message: Message) -> str | None:
    entities = message.entities or ()
    if not any(e.type == MessageEntityType.BOT_COMMAND and e.offset == 0 for e in entities):
        return None
    word = (message.text or "").split()[0][1:]
    return word.split("@")[0].lower() or None


def markup_for(reply: Reply) -> Markup:
    """Inline buttons for choices; a reply keyboard for location/contact requests (choices become text buttons)."""
    if reply.ask in (Ask.LOCATION, Ask.CONTACT):
        special = KeyboardButton(
            reply.ask_label or reply.ask.value,
            request_location=reply.ask is Ask.LOCATION,
            request_contact=reply.ask is Ask.CONTACT,
        )
        rows = [[special]] + [[KeyboardButton(c.label) for c in row] for row in reply.choices]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if reply.choices:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(c.label, callback_data=c.payload) for c in row] for row in reply.choices]
        )
    return None


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Telegram's 4096-character limit: split on line breaks where possible."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text] if text else parts
