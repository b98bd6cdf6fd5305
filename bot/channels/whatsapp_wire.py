"""WhatsApp (Twilio) wire format <-> neutral events and replies (pure functions, no network).

Inbound: Twilio's webhook form (From, Body, NumMedia, MediaUrl{N}, MediaContentType{N}, Latitude,
Longitude, Address, Label, MessageSid, ...) becomes an InboundEvent. Outbound: replies become
plain WhatsApp messages, choices drawn as a numbered list ("1. Meter tampering"), with a hint where
WhatsApp has no button (location, photos), split at Twilio's 1,600-character body limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse

from bot.engine import choice_numbers as engine_choice_numbers
from bot.events import Ask, Attachment, Choice, InboundEvent, Location, LocationSource, Reply

CHANNEL = "whatsapp"
ADDRESS_PREFIX = "whatsapp:"
MAX_BODY = 1600
MAX_MEDIA = 10
OUTSIDE_WINDOW_SEPARATOR = " · "

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NUMBER_ANSWER = re.compile(r"^\s*([0-9\u0966-\u096f]{1,4})\s*[.)]?\s*$")
_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")

# Whole-message words that work like Telegram's slash commands (a leading "/" is accepted too).
COMMAND_WORDS: dict[str, str] = {
    "menu": "menu", "मेनू": "menu", "मेन्यू": "menu",
    "help": "help", "मदद": "help", "सहायता": "help",
    "status": "status", "स्थिति": "status",
    "cancel": "cancel", "रद्द": "cancel",
    "report": "report", "शिकायत": "report",
    "nearby": "nearby", "पास": "nearby",
    "language": "language", "भाषा": "language",
    "bank": "bank", "बैंक": "bank",
    "stats": "stats", "आँकड़े": "stats",
    "mydata": "mydata", "deleteme": "deleteme",
    "start": "start", "hi": "start", "hello": "start", "hey": "start", "namaste": "start", "नमस्ते": "start",
}  # fmt: skip

# Hints drawn where Telegram has a native button, in the citizen's language.
HINTS: dict[str, dict[str, str]] = {
    "en": {
        "number": "Reply with a number.",
        "location": "Tap 📎 → Location → Send your current location.",
        "photo": "Tap 📎 → Camera or Gallery to attach a photo.",
        "map": "📍 Map: {url}",
    },
    "hi": {
        "number": "नंबर लिखकर जवाब दें।",
        "location": "📎 → लोकेशन → “अपनी वर्तमान लोकेशन भेजें” दबाएँ।",
        "photo": "📎 → कैमरा या गैलरी से फ़ोटो जोड़ें।",
        "map": "📍 नक्शा: {url}",
    },
}


class FormError(ValueError):
    """The webhook form lacks a required field or carries a malformed one."""


def address_of(number: str) -> str:
    """The Twilio channel address of an E.164 number: whatsapp:+91..."""
    return number if number.startswith(ADDRESS_PREFIX) else ADDRESS_PREFIX + number


def event_from_form(form: Mapping[str, str]) -> InboundEvent | None:
    """The neutral event for a webhook form; None for messages from other channels (SMS)."""
    message_sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not message_sid or len(message_sid) > 64:
        raise FormError("MessageSid is missing")
    if not sender:
        raise FormError("From is missing")
    if not sender.startswith(ADDRESS_PREFIX):
        return None
    number = sender.removeprefix(ADDRESS_PREFIX)
    if not _E164.match(number):
        raise FormError("From is not a WhatsApp number in E.164 form")
    body = form.get("Body") or ""
    base: dict[str, object] = {
        "channel": CHANNEL,
        "external_id": number,
        "update_id": message_sid,
        "verified_phone": number,
        "language_hint": "hi" if _DEVANAGARI.search(body) else None,
    }
    return InboundEvent(**base, **_content(form, body))  # type: ignore[arg-type]


def _content(form: Mapping[str, str], body: str) -> dict[str, object]:
    if (form.get("MessageType") or "").lower() == "sticker":
        return {"unsupported": "sticker"}
    attachments = _attachments(form)
    if attachments:
        return {"attachments": attachments}  # a caption is ignored, as on Telegram
    location = _location(form)
    if location is not None:
        return {"location": location}
    text = body.strip()
    if not text:
        return {"unsupported": "message of this kind"}
    return {"text": normalise_answer(text), "command": command_of(text)}


def _attachments(form: Mapping[str, str]) -> tuple[Attachment, ...]:
    try:
        count = int(form.get("NumMedia") or "0")
    except ValueError as exc:
        raise FormError("NumMedia is not a number") from exc
    found = []
    for index in range(max(0, min(count, MAX_MEDIA))):
        url = (form.get(f"MediaUrl{index}") or "").strip()
        if not url.startswith(("https://", "http://")):
            continue
        mime = (form.get(f"MediaContentType{index}") or "").strip().lower() or None
        is_photo = bool(mime and mime.startswith("image/"))
        found.append(Attachment(ref=url, mime_type=mime, is_photo=is_photo))
    return tuple(found)


def _location(form: Mapping[str, str]) -> Location | None:
    raw_lat, raw_lon = form.get("Latitude"), form.get("Longitude")
    if not raw_lat and not raw_lon:
        return None
    try:
        lat, lon = float(raw_lat or ""), float(raw_lon or "")
    except ValueError as exc:
        raise FormError("Latitude/Longitude are not numbers") from exc
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise FormError("Latitude/Longitude are out of range")
    # "Send your current location" carries only coordinates; a place picked from WhatsApp's list or
    # a search carries its Label/Address, and says nothing about where the sender stands.
    picked = bool((form.get("Label") or "").strip() or (form.get("Address") or "").strip())
    return Location(lat, lon, LocationSource.MAP if picked else LocationSource.GPS)


def command_of(text: str) -> str | None:
    """The command a whole message names ("menu", "/help", "मदद"), or None for ordinary text."""
    word = text.strip().casefold().rstrip(".!?।")
    word = word.removeprefix("/").split("@")[0].strip()
    return COMMAND_WORDS.get(word)


def normalise_answer(text: str) -> str:
    """A typed number ("२", " 2. ") as plain ASCII digits; any other text unchanged."""
    match = _NUMBER_ANSWER.match(text)
    return match.group(1).translate(_DEVANAGARI_DIGITS) if match else text


def choice_numbers(choices: list[Choice]) -> list[int]:
    """The number that picks each choice, by the engine's own rule (numeric labels keep their number)."""
    return engine_choice_numbers([choice.label for choice in choices])


def _is_number(label: str) -> bool:
    return label.isascii() and label.isdigit()


@dataclass(frozen=True)
class OutMessage:
    """One WhatsApp message: a text body, or one photo (WhatsApp carries one media item per message)."""

    body: str | None = None
    media_url: str | None = None


def render(
    replies: list[Reply], language: str, media_url: Callable[[str], str], *, with_choices: bool = True
) -> list[OutMessage]:
    """Draws replies as WhatsApp messages: photos first, consecutive texts joined up to the body limit.

    Only the last reply with choices gets its numbered list, because that is the list the engine
    resolves a typed number against; pushes (with_choices=False) show no list at all.
    """
    last_with_choices = max((i for i, r in enumerate(replies) if r.choices), default=-1) if with_choices else -1
    messages: list[OutMessage] = []
    texts: list[str] = []
    for index, reply in enumerate(replies):
        if reply.photos:
            messages.extend(_pack(texts))
            texts = []
            messages.extend(OutMessage(media_url=media_url(photo)) for photo in reply.photos)
        text = reply_text(reply, language, with_choices=index == last_with_choices)
        if text:
            texts.append(text)
    messages.extend(_pack(texts))
    return messages


def reply_text(reply: Reply, language: str, *, with_choices: bool) -> str:
    """One reply's text with its map link, numbered choices and the hint for what it asks."""
    hints = HINTS.get(language, HINTS["en"])
    blocks = [reply.text.strip()] if reply.text.strip() else []
    if reply.pin is not None:
        url = f"https://www.google.com/maps?q={reply.pin.latitude:.6f},{reply.pin.longitude:.6f}"
        blocks.append(hints["map"].format(url=url))
    if reply.ask is Ask.LOCATION:
        blocks.append(hints["location"])
    elif reply.ask is Ask.PHOTO:
        blocks.append(hints["photo"])
    choices = reply.flat_choices if with_choices else []
    if choices:
        # Choices labelled with a number are items the text itself lists ("1. N3330008565 · 20 m").
        numbered = zip(choice_numbers(choices), choices, strict=True)
        lines = [f"{number}. {choice.label}" for number, choice in numbered if not _is_number(choice.label)]
        if lines:
            blocks.append("\n".join(lines))
        blocks.append(hints["number"])
    return "\n\n".join(blocks)


def template_text(replies: list[Reply]) -> str:
    """The replies' text as one template variable: WhatsApp refuses new lines, tabs and long runs of spaces."""
    text = OUTSIDE_WINDOW_SEPARATOR.join(r.text.strip() for r in replies if r.text.strip())
    text = re.sub(r"\s*\n\s*", OUTSIDE_WINDOW_SEPARATOR, text)
    text = re.sub(r"[\t ]{2,}", " ", text)
    return text[:1000]


def _pack(texts: list[str]) -> list[OutMessage]:
    """Joins texts into as few bodies as fit the limit; a single long text is split on line breaks."""
    bodies: list[str] = []
    for text in texts:
        for part in split_text(text):
            if bodies and len(bodies[-1]) + 2 + len(part) <= MAX_BODY:
                bodies[-1] = f"{bodies[-1]}\n\n{part}"
            else:
                bodies.append(part)
    return [OutMessage(body=body) for body in bodies]


def split_text(text: str, limit: int = MAX_BODY) -> list[str]:
    """Twilio's 1,600-character body limit: split on line breaks, else on spaces, else hard."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts


def twiml(messages: list[OutMessage]) -> str:
    """The webhook's answer: one <Message> per message (an empty <Response/> acknowledges only)."""
    response = MessagingResponse()
    for message in messages:
        verb = response.message(message.body)
        if message.media_url:
            verb.media(message.media_url)
    return str(response)
