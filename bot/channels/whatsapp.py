"""The WhatsApp channel through Twilio: a signed webhook in; TwiML or the REST API out; the 24-hour window.

    Twilio webhook --signature ok--> InboundEvent --> engine --> replies
        answered within the budget --> the webhook's TwiML response (fastest, no API call)
        later                      --> messages.create (free text: the user has just written)
    pushes (notifier)  --inside the window--> free text --63016--> template
                       --outside the window--> the template configured for the message kind

A request whose X-Twilio-Signature does not match the public URL Twilio called gets 403 before
anything is read into the database. A redelivered MessageSid is acknowledged and not processed again
(the engine records every update id in the same transaction as its effects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.app import Runtime
from bot.channels.whatsapp_media import download_media, origin
from bot.channels.whatsapp_sender import OUTSIDE_WINDOW, TOO_MANY_REQUESTS, UNREACHABLE, TwilioSendError, WhatsAppSender
from bot.channels.whatsapp_wire import CHANNEL, FormError, OutMessage, event_from_form, render, template_text, twiml
from bot.config import ConfigError, WhatsAppTemplates
from bot.engine import DialogEngine
from bot.events import Attachment, Reply
from bot.media_links import add_media_route, media_url
from bot.notifier import DeliveryDeferred, DeliveryFailed
from storage.models import utcnow
from storage.repositories import CitizenRepository

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_API = "https://api.twilio.com"
# Twilio waits 15 s for the webhook; replies not ready by then go through the REST API.
REPLY_BUDGET_S = 10.0
TWIML_TYPE = "application/xml"


class _Turn:
    """The adapter the engine sees for one webhook request: replies go into the TwiML answer while
    the request is still waiting, and through the REST API once it has been answered."""

    name = CHANNEL
    numbered_choices = True

    def __init__(self, channel: WhatsAppChannel, external_id: str) -> None:
        self.channel = channel
        self.external_id = external_id
        self.replies: list[Reply] = []
        self.late = False

    async def send(self, external_id: str, replies: list[Reply]) -> None:
        if self.late:
            await self.channel.send(external_id, replies)
        else:
            self.replies.extend(replies)

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        return await self.channel.fetch_attachment(attachment, max_bytes)

    def take(self) -> list[Reply]:
        replies, self.replies = self.replies, []
        return replies

    def release(self) -> None:
        """The webhook has answered: whatever comes from now on, or was caught unsent, goes by REST."""
        self.late = True
        pending = self.take()
        if pending:
            self.channel.spawn(self.channel.send(self.external_id, pending))


class WhatsAppChannel:
    """Serves WhatsApp users through Twilio with the same dialogs as every other channel."""

    name = CHANNEL
    numbered_choices = True

    def __init__(self, runtime: Runtime, *, sender: WhatsAppSender | None = None) -> None:
        settings = runtime.settings
        twilio, whatsapp = settings.twilio, settings.whatsapp
        if not twilio.account_sid or twilio.auth_token is None or not settings.http.public_base_url:
            raise ConfigError("WhatsApp needs twilio.account_sid, twilio.auth_token and http.public_base_url")
        token = twilio.auth_token.get_secret_value()
        self.runtime = runtime
        self.settings = settings
        self.validator = RequestValidator(token)
        self.webhook_url = settings.http.public_base_url.rstrip("/") + twilio.webhook_path
        self.sender = sender or WhatsAppSender(
            twilio.account_sid,
            token,
            from_number=whatsapp.from_number,
            messaging_service_sid=whatsapp.messaging_service_sid,
            api_base_url=twilio.api_base_url,
            max_attempts=twilio.max_send_attempts,
        )
        self.window = timedelta(hours=whatsapp.session_window_hours)
        self.reply_budget_s = REPLY_BUDGET_S
        self._media_auth = aiohttp.encode_basic_auth(twilio.account_sid, token)
        self._media_origins = {origin(TWILIO_API)} | ({origin(twilio.api_base_url)} if twilio.api_base_url else set())
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- inbound ---------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """Twilio's incoming-message webhook: verify the signature, run the dialog, answer in TwiML."""
        form = await request.post()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        query = request.rel_url.raw_query_string
        url = f"{self.webhook_url}?{query}" if query else self.webhook_url
        if not all(isinstance(value, str) for value in form.values()):
            return web.Response(status=403, text="forbidden")
        if not signature or not self.validator.validate(url, form, signature):
            log.warning("whatsapp webhook: request without a valid Twilio signature refused")
            return web.Response(status=403, text="forbidden")
        try:
            event = event_from_form(form)  # type: ignore[arg-type]
        except FormError as exc:
            log.warning("whatsapp webhook: %s", exc)
            return web.Response(status=400, text=str(exc))
        if event is None:
            log.info("whatsapp webhook: a non-WhatsApp message was ignored")
            return self._answer([])
        turn = _Turn(self, event.external_id)
        future = self.engine.submit(event, turn)
        future.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(future), self.reply_budget_s)
        except TimeoutError:
            log.info("whatsapp: the dialog took over %.0fs; the replies will follow by REST", self.reply_budget_s)
            turn.release()
            return self._answer([])
        except Exception:  # the engine has logged it
            turn.release()
            return self._answer([])
        except BaseException:  # the request was cancelled: nothing will carry the TwiML
            turn.release()
            raise
        replies = turn.take()
        turn.release()
        if not replies:
            return self._answer([])
        try:
            language, _ = await self._recipient(event.external_id)
        except Exception:
            log.exception("whatsapp: the citizen's language could not be read")
            language = self.settings.dialog.default_language
        return self._answer(render(replies, language, self._link))

    @property
    def engine(self) -> DialogEngine:
        return self.runtime.engine

    @staticmethod
    def _answer(messages: list[OutMessage]) -> web.Response:
        return web.Response(text=twiml(messages), content_type=TWIML_TYPE)

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Downloads a MediaUrl with the account's basic auth, following Twilio's redirect, within max_bytes."""
        return await download_media(
            self._session(),
            attachment.ref,
            authorization=self._media_auth,
            trusted_origins=self._media_origins,
            max_bytes=max_bytes,
        )

    # -- outbound --------------------------------------------------------------------------------

    async def send(self, external_id: str, replies: list[Reply]) -> None:
        """Dialog replies by REST (when the webhook answered before they were ready)."""
        await self._deliver(external_id, list(replies), "generic", with_choices=True)

    async def push(self, external_id: str, reply: Reply | Sequence[Reply], kind: str = "generic") -> None:
        """A pushed message (status update, officer message): free text inside the window, else a template.

        Raises DeliveryDeferred when Twilio keeps answering 20429, DeliveryFailed when the message can
        never go (no template for this kind outside the window, the number is not on WhatsApp).
        """
        replies = [reply] if isinstance(reply, Reply) else list(reply)
        try:
            await self._deliver(external_id, replies, kind, with_choices=False)
        except TwilioSendError as exc:
            if exc.code == TOO_MANY_REQUESTS or exc.status == 429:
                raise DeliveryDeferred(self.sender.backoff(self.sender.max_attempts), "twilio 20429") from exc
            if exc.code in UNREACHABLE:
                raise DeliveryFailed(f"twilio error {exc.code}") from exc
            raise

    async def _deliver(self, external_id: str, replies: list[Reply], kind: str, *, with_choices: bool) -> None:
        if self._closed:
            raise DeliveryDeferred(5.0, "the WhatsApp channel is shutting down")  # the outbox keeps it
        language, last_inbound = await self._recipient(external_id)
        if last_inbound is not None and utcnow() - last_inbound < self.window:
            try:
                for message in render(replies, language, self._link, with_choices=with_choices):
                    await self._send_one(external_id, message)
                return
            except TwilioSendError as exc:
                if exc.code != OUTSIDE_WINDOW:
                    raise
                log.info("whatsapp: outside the 24-hour window after all (63016); using the template")
        await self._send_template(external_id, replies, kind)

    async def _send_one(self, external_id: str, message: OutMessage) -> None:
        if message.media_url:
            await self.sender.send_media(external_id, message.media_url, message.body)
        elif message.body:
            await self.sender.send_text(external_id, message.body)

    async def _send_template(self, external_id: str, replies: list[Reply], kind: str) -> None:
        templates = self.settings.whatsapp.templates
        content_sid = getattr(templates, kind, None) if kind in WhatsAppTemplates.model_fields else None
        content_sid = content_sid or templates.generic
        if not content_sid:
            raise DeliveryFailed(f"outside WhatsApp's 24-hour window and no template for {kind!r} is configured")
        text = template_text(replies)
        if not text:
            raise DeliveryFailed("photos alone cannot be sent outside WhatsApp's 24-hour window")
        await self.sender.send_template(external_id, content_sid, {"1": text})

    async def _recipient(self, external_id: str) -> tuple[str, datetime | None]:
        """The citizen's language and the time of their last message on WhatsApp."""
        async with self.runtime.db.reader() as session:
            identity = await CitizenRepository(session).identity(CHANNEL, external_id)
            if identity is None:
                return self.settings.dialog.default_language, None
            return identity.citizen.language, identity.last_inbound_at

    def _link(self, relative_path: str) -> str:
        return media_url(self.settings, relative_path)

    # -- lifecycle -------------------------------------------------------------------------------

    def spawn(self, coro: object) -> None:
        """Runs a REST send in the background, keeping a reference until it ends."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("whatsapp: a late reply could not be sent: %r", task.exception())

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, sock_connect=10))
        return self._http

    async def close(self) -> None:
        """Lets replies in flight go out, then closes the HTTP connections."""
        await self.engine.drain()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._closed = True
        if self._http is not None:
            await self._http.close()
        await self.sender.close()


def _retrieve(future: asyncio.Future[list[Reply]]) -> None:
    """Marks a failed engine future as seen (the engine has logged the failure)."""
    if not future.cancelled():
        future.exception()


def mount_whatsapp(http_app: web.Application, runtime: Runtime) -> WhatsAppChannel | None:
    """Adds the Twilio webhook and the signed photo route, and registers with the notifier, when Twilio
    credentials are configured; None when they are not; ConfigError when they are only half there."""
    settings = runtime.settings
    twilio, whatsapp = settings.twilio, settings.whatsapp
    if not twilio.account_sid and twilio.auth_token is None:
        log.info("WhatsApp is off (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to turn it on)")
        return None
    missing = []
    if not twilio.account_sid:
        missing.append("TWILIO_ACCOUNT_SID")
    if twilio.auth_token is None:
        missing.append("TWILIO_AUTH_TOKEN")
    if not settings.http.public_base_url:
        missing.append("http.public_base_url (VMITRA_PUBLIC_BASE_URL), the URL Twilio calls and signs")
    if not (whatsapp.from_number or whatsapp.messaging_service_sid):
        missing.append("whatsapp.from_number or whatsapp.messaging_service_sid")
    if missing:
        raise ConfigError("WhatsApp is half configured; also set " + ", ".join(missing))
    channel = WhatsAppChannel(runtime)
    http_app.router.add_post(twilio.webhook_path, channel.webhook)
    add_media_route(http_app, settings, runtime.photo_store)
    runtime.notifier.adapters[channel.name] = channel

    async def _close(_app: web.Application) -> None:
        await channel.close()

    http_app.on_cleanup.append(_close)
    log.info("WhatsApp webhook at %s", channel.webhook_url)
    return channel
