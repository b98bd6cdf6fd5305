"""A simulated WhatsApp user: posts Twilio-signed webhook forms to the bot and reads what comes back.

    wa = WhatsAppUser(client, twilio, public_base_url="https://bot.example.org", phone="+919876543210")
    await wa.send("hi")
    wa.expect("Choose your language")
    await wa.send("2")
    await wa.send_location(23.1685, 79.9338)
    await wa.send_photo(jpeg_bytes())

Replies arrive in the webhook's TwiML answer, or later through the REST API (recorded by the fake
Twilio API); `expect` reads both, in the order they arrived.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_api import FakeTwilioApi

BOT_NUMBER = "whatsapp:+14155238886"


@dataclass
class Received:
    """One message the user got: its text, its photo URLs, and whether it came in TwiML or by REST."""

    body: str
    media: list[str] = field(default_factory=list)
    via: Literal["twiml", "rest"] = "twiml"


@dataclass
class Posted:
    status: int
    text: str


def parse_twiml(xml: str) -> list[Received]:
    """The <Message> verbs of a TwiML answer."""
    root = ET.fromstring(xml)
    assert root.tag == "Response", xml
    found = []
    for message in root.findall("Message"):
        body_el = message.find("Body")
        body = (body_el.text if body_el is not None else message.text) or ""
        found.append(Received(body=body, media=[m.text or "" for m in message.findall("Media")]))
    return found


class WhatsAppUser:
    """One WhatsApp user talking to the bot through Twilio's webhook."""

    def __init__(
        self,
        client: TestClient,
        twilio: FakeTwilioApi,
        *,
        public_base_url: str,
        phone: str = "+919876543210",
        webhook_path: str = "/twilio/whatsapp",
        profile_name: str = "Ravi",
    ) -> None:
        self.client = client
        self.twilio = twilio
        self.public_url = public_base_url.rstrip("/") + webhook_path
        self.path = webhook_path
        self.phone = phone
        self.profile_name = profile_name
        self.validator = RequestValidator(twilio.auth_token)
        self.inbox: list[Received] = []
        self._cursor = (0, 0)  # (message, character) where the last expect() matched
        self._rest_seen = 0
        self.last_form: dict[str, str] | None = None

    # -- what the user does --------------------------------------------------------------------

    def form(self, **fields: str) -> dict[str, str]:
        """A webhook form as Twilio sends it for an incoming WhatsApp message."""
        sid = ("MM" if int(fields.get("NumMedia", "0")) else "SM") + secrets.token_hex(16)
        base = {
            "SmsMessageSid": sid,
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.twilio.account_sid,
            "From": f"whatsapp:{self.phone}",
            "To": BOT_NUMBER,
            "WaId": self.phone.lstrip("+"),
            "ProfileName": self.profile_name,
            "Body": "",
            "NumMedia": "0",
            "NumSegments": "1",
            "MessageType": "text",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        return {**base, **fields}

    async def send(self, text: str) -> list[Received]:
        """Types a message."""
        return await self.deliver(self.form(Body=text))

    async def send_location(
        self, lat: float, lon: float, *, address: str | None = None, label: str | None = None
    ) -> list[Received]:
        """Shares a location (with address and label when a place was picked rather than the current spot)."""
        extra = {"Latitude": str(lat), "Longitude": str(lon), "MessageType": "location"}
        if address:
            extra["Address"] = address
        if label:
            extra["Label"] = label
        return await self.deliver(self.form(**extra))

    async def send_media(self, *items: tuple[str, str], caption: str = "") -> list[Received]:
        """Sends media already stored on the fake: (MediaUrl, MediaContentType) pairs."""
        extra = {"NumMedia": str(len(items)), "Body": caption}
        first_type = items[0][1] if items else ""
        extra["MessageType"] = "image" if first_type.startswith("image/") else "document"
        for index, (url, content_type) in enumerate(items):
            extra[f"MediaUrl{index}"] = url
            extra[f"MediaContentType{index}"] = content_type
        return await self.deliver(self.form(**extra))

    async def send_photo(self, *images: bytes, content_type: str = "image/jpeg") -> list[Received]:
        """Attaches one or more photos (uploaded to the fake's media store first)."""
        return await self.send_media(*[(self.twilio.add_media(data, content_type), content_type) for data in images])

    async def redeliver(self) -> list[Received]:
        """Twilio delivers the last message again (same MessageSid)."""
        assert self.last_form is not None
        return await self.deliver(dict(self.last_form))

    # -- the wire ------------------------------------------------------------------------------

    def sign(self, params: dict[str, str], url: str | None = None) -> str:
        return self.validator.compute_signature(url or self.public_url, params)

    async def post(
        self, params: dict[str, str], *, signature: str | None = None, headers: dict[str, str] | None = None
    ) -> Posted:
        """Posts a form as-is (signature given, or none at all); for the forged-request tests."""
        all_headers = dict(headers or {})
        if signature is not None:
            all_headers["X-Twilio-Signature"] = signature
        response = await self.client.post(self.path, data=params, headers=all_headers)
        return Posted(response.status, await response.text())

    async def deliver(self, params: dict[str, str]) -> list[Received]:
        """Posts a correctly signed form; returns the TwiML messages and records them."""
        self.last_form = params
        posted = await self.post(params, signature=self.sign(params))
        assert posted.status == 200, f"webhook answered {posted.status}: {posted.text}"
        received = parse_twiml(posted.text)
        self.inbox.extend(received)
        self.collect_rest()
        return received

    def collect_rest(self) -> list[Received]:
        """Adds messages the bot has sent so far through the REST API to the inbox."""
        sent = self.twilio.sent_to(self.phone)
        new = [Received(m.body or "", list(m.media_urls), "rest") for m in sent[self._rest_seen :]]
        self._rest_seen = len(sent)
        self.inbox.extend(new)
        return new

    async def wait_rest(self, count: int = 1, within_s: float = 5.0) -> list[Received]:
        """Waits until `count` more REST messages have arrived for this user."""
        await self.twilio.wait_for_messages(self._rest_seen + count, to=self.phone, within_s=within_s)
        return self.collect_rest()

    # -- reading -------------------------------------------------------------------------------

    def transcript(self) -> str:
        return "\n---\n".join(f"[{m.via}] {m.body}" + "".join(f" <{u}>" for u in m.media) for m in self.inbox)

    def expect(self, fragment: str) -> Received:
        """The first message containing `fragment` (case-insensitive) after the last expect()'s match.

        Read in order, like a transcript: one WhatsApp message may carry several replies.
        """
        self.collect_rest()
        first, offset = self._cursor
        for index in range(first, len(self.inbox)):
            body = self.inbox[index].body.casefold()
            found = body.find(fragment.casefold(), offset if index == first else 0)
            if found >= 0:
                self._cursor = (index, found + len(fragment))
                return self.inbox[index]
        raise AssertionError(f"expected a message containing {fragment!r}; the conversation was:\n{self.transcript()}")

    @property
    def last(self) -> Received:
        assert self.inbox, "the bot has not said anything yet"
        return self.inbox[-1]
