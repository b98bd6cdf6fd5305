"""Twilio's REST API for outgoing WhatsApp messages: messages.create over the SDK's async HTTP client.

Errors, as a tree:

    TwilioSendError            Twilio refused the message or could not be reached (.code, .status)
      (code 20429)             too many requests: retried here with exponential backoff first
      (code 63016)             free text outside the 24-hour window: the caller sends a template instead

Nothing here blocks the event loop: only the SDK's *_async methods are called.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.channels.whatsapp_wire import address_of

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 20429
OUTSIDE_WINDOW = 63016
# The recipient can never be reached this way (not on WhatsApp, opted out, invalid number).
UNREACHABLE = frozenset({21211, 21610, 21614, 63003, 63024, 63032})


class TwilioSendError(Exception):
    """Twilio refused a message (`code` is Twilio's error code, `status` the HTTP status), or was unreachable."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class WhatsAppSender:
    """Sends free text, one photo, or an approved template to a WhatsApp number, retrying 20429 with backoff."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None,
        messaging_service_sid: str | None,
        api_base_url: str | None = None,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 20.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("a WhatsApp sender needs from_number or messaging_service_sid")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_address = address_of(from_number) if from_number else None
        self.messaging_service_sid = messaging_service_sid
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    def _twilio(self) -> Client:
        """The SDK client, created on first use (its aiohttp session needs a running loop)."""
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=self.timeout_s)
            client = Client(self.account_sid, self._auth_token, http_client=self._http)
            if self.api_base_url:
                client.api.base_url = self.api_base_url  # the Api domain builds every URL from this
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None

    async def send_text(self, number: str, body: str) -> str:
        """Free text (inside the customer-service window); returns the message SID."""
        return await self._create(number, body=body)

    async def send_media(self, number: str, media_url: str, caption: str | None = None) -> str:
        """One photo by URL (Twilio fetches it), with an optional caption."""
        return await self._create(number, media_url=[media_url], body=caption or None)

    async def send_template(self, number: str, content_sid: str, variables: dict[str, str]) -> str:
        """An approved template (Content SID HX...) with its variables."""
        return await self._create(
            number, content_sid=content_sid, content_variables=json.dumps(variables, ensure_ascii=False)
        )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the attempt-th refusal: doubling, with a little jitter."""
        return self.backoff_s * (2 ** (attempt - 1)) * (1 + random.uniform(0, 0.1))

    async def _create(self, number: str, **fields: object) -> str:
        kwargs: dict[str, object] = {"to": address_of(number), **{k: v for k, v in fields.items() if v is not None}}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        if self.from_address:
            kwargs["from_"] = self.from_address
        messages = self._twilio().messages
        for attempt in range(1, self.max_attempts + 1):
            try:
                created = await messages.create_async(**kwargs)  # type: ignore[arg-type]
                return str(created.sid)
            except TwilioException as exc:
                code, status = _code_of(exc), getattr(exc, "status", None)
                if (code == TOO_MANY_REQUESTS or status == 429) and attempt < self.max_attempts:
                    delay = self.backoff(attempt)
                    log.warning("twilio: too many requests (attempt %d); retrying in %.1fs", attempt, delay)
                    await asyncio.sleep(delay)
                    continue
                # Not chained: Twilio's own message may quote the recipient's number, which is not logged.
                message = f"twilio refused the message (code {code}, HTTP {status})"
                raise TwilioSendError(message, code, status) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Not retried: the message may have been accepted before the connection failed.
                raise TwilioSendError(f"twilio unreachable: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")


def _code_of(exc: TwilioException) -> int | None:
    code = getattr(exc, "code", None)
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None
