"""Transcript-style driver for dialog tests: `await chat.send("/start")`, `await chat.expect("language")`.

It talks to the real DialogEngine through an in-memory channel adapter, so every test reads
like the conversation it checks.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field

from PIL import Image

from bot.engine import AttachmentUnavailable, DialogEngine
from bot.events import Attachment, Contact, InboundEvent, Location, LocationSource, Reply

_update_ids = itertools.count(1)


def jpeg_bytes(
    width: int = 640, height: int = 480, color: tuple[int, int, int] = (200, 40, 40), exif_gps: bool = False
) -> bytes:
    """A real JPEG image; with exif_gps it carries a GPS block like a phone camera's."""
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 16):  # some structure so perceptual hashes differ between colours
        for y in range(0, height, 32):
            image.putpixel((x, y), (color[1], color[2], color[0]))
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "N", 2: (23.0, 10.0, 48.0), 3: "E", 4: (79.0, 57.0, 0.0)}  # GPSInfo
        image.save(out, format="JPEG", exif=exif)
    else:
        image.save(out, format="JPEG")
    return out.getvalue()


@dataclass
class MemoryAdapter:
    """A channel that keeps what the bot sends in lists and serves attachments from a dict."""

    name: str = "telegram"
    numbered_choices: bool = False
    sent: dict[str, list[Reply]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    async def send(self, external_id: str, replies: list[Reply]) -> None:
        self.sent.setdefault(external_id, []).extend(replies)

    async def push(self, external_id: str, reply: Reply, kind: str) -> None:
        """Notifier deliveries land in the same transcript as direct replies."""
        self.sent.setdefault(external_id, []).append(reply)

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        try:
            return self.files[attachment.ref]
        except KeyError:
            raise AttachmentUnavailable(attachment.ref) from None


class Chat:
    """One user talking to the engine."""

    def __init__(self, engine: DialogEngine, adapter: MemoryAdapter, user_id: str = "1001", language: str = "en"):
        self.engine = engine
        self.adapter = adapter
        self.user_id = user_id
        self.language = language
        self.seen = 0

    @property
    def replies(self) -> list[Reply]:
        return self.adapter.sent.get(self.user_id, [])

    @property
    def last(self) -> Reply:
        assert self.replies, "the bot has not said anything yet"
        return self.replies[-1]

    def transcript(self) -> str:
        return "\n---\n".join(r.text + "".join(f"\n  [{c.label}]" for c in r.flat_choices) for r in self.replies)

    async def _deliver(self, **fields: object) -> list[Reply]:
        event = InboundEvent(
            channel=self.adapter.name,
            external_id=self.user_id,
            update_id=str(fields.pop("update_id", next(_update_ids))),
            language_hint=self.language,
            **fields,  # type: ignore[arg-type]
        )
        return await self.engine.submit(event, self.adapter)

    async def send(self, text: str, **extra: object) -> list[Reply]:
        """Types a message (a leading slash makes it a command)."""
        if text.startswith("/"):
            return await self._deliver(text=text, command=text[1:].split()[0].split("@")[0].lower(), **extra)
        return await self._deliver(text=text, **extra)

    async def press(self, label: str) -> list[Reply]:
        """Presses the button whose label contains `label` on the latest message that has buttons."""
        for reply in reversed(self.replies):
            if reply.choices:
                for choice in reply.flat_choices:
                    if label.casefold() in choice.label.casefold():
                        return await self._deliver(choice=choice.payload)
                labels = [c.label for c in reply.flat_choices]
                raise AssertionError(f"no button {label!r} among {labels}\n{self.transcript()}")
        raise AssertionError(f"no message with buttons\n{self.transcript()}")

    async def press_payload(self, payload: str) -> list[Reply]:
        """Presses a button by its payload (e.g. one from an old message)."""
        return await self._deliver(choice=payload)

    async def share_location(self, lat: float, lon: float, source: LocationSource = LocationSource.GPS) -> list[Reply]:
        return await self._deliver(location=Location(lat, lon, source))

    async def share_contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self._deliver(contact=Contact(phone=phone, is_own=own))

    async def send_photo(self, data: bytes) -> list[Reply]:
        ref = f"file{len(self.adapter.files)}"
        self.adapter.files[ref] = data
        return await self._deliver(attachments=(Attachment(ref=ref, mime_type="image/jpeg", size_bytes=len(data)),))

    async def send_document(self, data: bytes, mime_type: str, file_name: str) -> list[Reply]:
        ref = f"file{len(self.adapter.files)}"
        self.adapter.files[ref] = data
        attachment = Attachment(ref=ref, mime_type=mime_type, size_bytes=len(data), file_name=file_name, is_photo=False)
        return await self._deliver(attachments=(attachment,))

    def expect(self, fragment: str) -> Reply:
        """The first reply since the last expect() that contains `fragment` (case-insensitive)."""
        for index in range(self.seen, len(self.replies)):
            if fragment.casefold() in self.replies[index].text.casefold():
                self.seen = index + 1
                return self.replies[index]
        raise AssertionError(f"expected a reply containing {fragment!r}; the conversation was:\n{self.transcript()}")

    def buttons(self) -> list[str]:
        """Labels of the latest message with buttons."""
        for reply in reversed(self.replies):
            if reply.choices:
                return [c.label for c in reply.flat_choices]
        return []
