"""Web chat wire format <-> neutral events and replies (pure functions, no I/O).

A message body is a JSON object with exactly one of
    {"text": "..."}                                  typed text; "/report" is a command
    {"choice": "payload"}                            a button
    {"location": {"lat": 23.1, "lon": 79.9, "source": "gps" | "map" | "typed"}}
    {"contact": {"phone": "+91 98765 43210"}}        the user's own mobile number
plus optional "id" (the page's message id, for de-duplicating retries) and "after" (the last
sequence number the page has, so the answer carries everything newer).
"""

from __future__ import annotations

import math
import re
from typing import Any

from bot.events import Contact, Location, LocationSource, Reply

CHANNEL = "webchat"
TEXT_MAX = 4000
PHONE_MAX = 32
KINDS = ("text", "choice", "location", "contact")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_COMMAND = re.compile(r"^/([A-Za-z_]{1,32})(?:@\S*)?(?:\s.*)?$", re.DOTALL)


class BadInput(ValueError):
    """The body cannot be turned into an event; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def client_message_id(value: Any) -> str | None:
    """The page's message id, if it sent a well-formed one."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_ID.match(value):
        raise BadInput("bad_id", "id must be 1-40 letters, digits, '-' or '_'")
    return value


def after_seq(value: Any) -> int:
    """The sequence number the page already has (0 when absent)."""
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadInput("bad_after", "after must be a whole number") from None
    if isinstance(value, bool) or number < 0:
        raise BadInput("bad_after", "after must be a whole number")
    return number


def event_fields(body: Any) -> dict[str, Any]:
    """The InboundEvent fields for a message body; raises BadInput for anything malformed."""
    if not isinstance(body, dict):
        raise BadInput("bad_body", "the body must be a JSON object")
    present = [kind for kind in KINDS if kind in body]
    if len(present) != 1:
        raise BadInput("bad_body", "send exactly one of: text, choice, location, contact")
    kind = present[0]
    value = body[kind]
    if kind == "text":
        return _text(value)
    if kind == "choice":
        if not isinstance(value, str) or not value or len(value.encode()) > 64:
            raise BadInput("bad_choice", "choice must be a button payload of 1-64 bytes")
        return {"choice": value}
    if kind == "location":
        return {"location": _location(value)}
    return {"contact": _contact(value)}


def _text(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        raise BadInput("bad_text", "text must be a string")
    text = value.strip()
    if not text:
        raise BadInput("empty_text", "text is empty")
    if len(text) > TEXT_MAX:
        raise BadInput("text_too_long", f"text is longer than {TEXT_MAX} characters")
    match = _COMMAND.match(text)
    if match:
        return {"text": text, "command": match.group(1).lower()}
    return {"text": text}


def _number(value: Any, low: float, high: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput("bad_location", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise BadInput("bad_location", f"{name} must be between {low:g} and {high:g}")
    return number


def _location(value: Any) -> Location:
    if not isinstance(value, dict):
        raise BadInput("bad_location", "location must be an object with lat, lon and source")
    lat = _number(value.get("lat"), -90, 90, "lat")
    lon = _number(value.get("lon"), -180, 180, "lon")
    try:
        source = LocationSource(value.get("source", "gps"))
    except ValueError:
        raise BadInput("bad_location", "source must be gps, map or typed") from None
    return Location(lat, lon, source)


def _contact(value: Any) -> Contact:
    phone = value.get("phone") if isinstance(value, dict) else None
    if not isinstance(phone, str) or not phone.strip() or len(phone) > PHONE_MAX:
        raise BadInput("bad_contact", f"contact.phone must be a string of 1-{PHONE_MAX} characters")
    # The page's own number field: the user types their number, so the channel vouches for nothing
    # more than that; the registration step validates it with phonenumbers.
    return Contact(phone=phone.strip(), is_own=True)


def reply_json(reply: Reply, photo_url: Any = None) -> dict[str, Any]:
    """A reply as the page draws it: plain text (never HTML), button rows, what it asks for."""
    return {
        "text": reply.text,
        "choices": [[{"payload": c.payload, "label": c.label} for c in row] for row in reply.choices],
        "ask": reply.ask.value if reply.ask else None,
        "ask_label": reply.ask_label,
        "pin": {"lat": reply.pin.latitude, "lon": reply.pin.longitude} if reply.pin else None,
        "photos": [photo_url(str(p)) for p in reply.photos] if photo_url is not None else [],
    }
