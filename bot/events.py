"""Channel-neutral messages: what a user sent (InboundEvent) and what the bot answers (Reply).

Adapters in bot/channels/ translate their wire formats to and from these types; nothing in
handlers/ ever sees a Telegram update or a Twilio form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LocationSource(StrEnum):
    """How a location was obtained; only GPS counts as evidence of where the user stands."""

    GPS = "gps"  # the device's location sharing (Telegram/WhatsApp location message, browser geolocation)
    MAP = "map"  # a point picked on a map (web chat demo)
    TYPED = "typed"  # coordinates typed as text (web chat demo only)


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    source: LocationSource = LocationSource.GPS


@dataclass(frozen=True)
class Contact:
    """A shared phone contact; `is_own` is true only when the channel vouches it is the sender's own."""

    phone: str
    is_own: bool


@dataclass(frozen=True)
class Attachment:
    """A photo or file the user sent, not yet downloaded; `ref` is the channel's own handle."""

    ref: str
    mime_type: str | None = None
    size_bytes: int | None = None
    file_name: str | None = None
    is_photo: bool = True


@dataclass(frozen=True)
class InboundEvent:
    """One thing a user did: a text, a command, a button press, a location, a contact, photos."""

    channel: str
    external_id: str
    update_id: str | None = None
    text: str | None = None
    command: str | None = None
    choice: str | None = None
    location: Location | None = None
    contact: Contact | None = None
    attachments: tuple[Attachment, ...] = ()
    # Something the bot cannot use at all: "sticker", "voice", "video", ...
    unsupported: str | None = None
    language_hint: str | None = None
    # Set when the channel already verified the sender's phone (WhatsApp's From).
    verified_phone: str | None = None

    @property
    def user_key(self) -> str:
        return f"{self.channel}:{self.external_id}"


class Ask(StrEnum):
    """Special input a reply asks for; channels draw a native button where they have one."""

    LOCATION = "location"
    CONTACT = "contact"
    PHOTO = "photo"


@dataclass(frozen=True)
class Choice:
    """A button: the payload comes back as InboundEvent.choice (at most 64 bytes, for Telegram)."""

    payload: str
    label: str

    def __post_init__(self) -> None:
        if len(self.payload.encode()) > 64:
            raise ValueError(f"choice payload over 64 bytes: {self.payload!r}")


@dataclass(frozen=True)
class MapPin:
    latitude: float
    longitude: float


@dataclass
class Reply:
    """One message from the bot: text, optional button rows, and what special input it asks for."""

    text: str
    choices: list[list[Choice]] = field(default_factory=list)
    ask: Ask | None = None
    # Label of the native button for ask=LOCATION/CONTACT (e.g. "📍 Share my location").
    ask_label: str | None = None
    pin: MapPin | None = None
    # Photos to show first, as paths inside the photo store (content-addressed, EXIF-free).
    photos: list[str] = field(default_factory=list)

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, for the outbox."""
        return {
            "text": self.text,
            "choices": [[[c.payload, c.label] for c in row] for row in self.choices],
            "ask": self.ask.value if self.ask else None,
            "ask_label": self.ask_label,
            "pin": [self.pin.latitude, self.pin.longitude] if self.pin else None,
            "photos": list(self.photos),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """The reply that to_dict() wrote."""
        pin = data.get("pin")
        return cls(
            text=data["text"],
            choices=[[Choice(p, label) for p, label in row] for row in data.get("choices", [])],
            ask=Ask(data["ask"]) if data.get("ask") else None,
            ask_label=data.get("ask_label"),
            pin=MapPin(pin[0], pin[1]) if pin else None,
            photos=list(data.get("photos", [])),
        )
