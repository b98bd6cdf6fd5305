"""The web chat channel: a plain HTML page served by the bot's aiohttp server, talking JSON to the engine.

Endpoints (all JSON except the page and its files):
    GET  /                      the chat page (static/index.html, strict Content-Security-Policy)
    GET  /static/...            app.js, app.css, vendored Leaflet, the offline map outline
    GET  /api/bootstrap         issues or renews the session cookie; returns the CSRF token, history, demo flag
    POST /api/message           one text / choice / location / contact; answers with the new messages
    POST /api/photo             one photo (multipart field "photo"); answers with the new messages
    GET  /api/messages?after=N  long poll for messages pushed later (status changes)
    GET  /api/reply-photo       a photo the bot sent to this user (signed per user)
Every /api request must be same-origin and carry the session cookie; all but bootstrap and
reply-photo also need the X-CSRF-Token header. Errors are {"error": code, "message": text}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.app import Runtime
from bot.channels.webchat_outbox import Outbox, UploadStore
from bot.channels.webchat_session import SessionManager, session_key
from bot.channels.webchat_wire import (
    CHANNEL,
    TEXT_MAX,
    BadInput,
    after_seq,
    client_message_id,
    event_fields,
    reply_json,
)
from bot.engine import AttachmentTooLarge, AttachmentUnavailable
from bot.events import Attachment, Contact, InboundEvent, Reply
from bot.phones import normalise_mobile
from storage.repositories import CitizenRepository

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
MESSAGE_MAX_BYTES = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024
MAP_CENTRE = (23.1815, 79.9864)  # Jabalpur, the company's headquarters
_PHOTO_PATH = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}\.jpg$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)

DemoProbe = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[["WebChatChannel", web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than 200: HTTP status, machine-readable code, English explanation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _api(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapped(self: WebChatChannel, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except ApiError as exc:
            return web.json_response({"error": exc.code, "message": exc.message}, status=exc.status)
        except BadInput as exc:
            return web.json_response({"error": exc.code, "message": str(exc)}, status=400)

    return wrapped


class WebChatChannel:
    """The web chat adapter: sessions, the JSON API, and per-user outboxes the page polls."""

    name = CHANNEL
    numbered_choices = False

    def __init__(self, runtime: Runtime, sessions: SessionManager, *, demo_probe: DemoProbe | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.engine = runtime.engine
        self.sessions = sessions
        self.demo_probe = demo_probe
        self.outbox = Outbox(per_user=self.settings.webchat.outbox_messages)
        self.uploads = UploadStore()
        self.photo_limit = min(self.settings.photos.max_bytes, self.settings.http.max_upload_bytes)

    @classmethod
    def from_runtime(cls, runtime: Runtime, *, demo_probe: DemoProbe | None = None) -> WebChatChannel:
        """The channel with its session key from the settings (or generated into data_dir)."""
        settings = runtime.settings
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        public = settings.http.public_base_url
        sessions = SessionManager(
            session_key(secret, settings.data_dir),
            lifetime_s=settings.webchat.session_days * 86400,
            allowed_origins=(public.rstrip("/"),) if public else (),
        )
        return cls(runtime, sessions, demo_probe=demo_probe)

    def install(self, app: web.Application) -> None:
        """Add the page, its files and the JSON API to the bot's HTTP application."""
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
        app.router.add_get("/api/bootstrap", self.bootstrap)
        app.router.add_post("/api/message", self.message)
        app.router.add_post("/api/photo", self.photo)
        app.router.add_get("/api/messages", self.messages)
        app.router.add_get("/api/reply-photo", self.reply_photo)
        app.on_response_prepare.append(_security_headers)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.outbox.close()

    # --- the ChannelAdapter side -------------------------------------------------------------

    async def send(self, external_id: str, replies: list[Reply]) -> None:
        """Appends the replies to the user's outbox, where the page picks them up."""
        photo_url = partial(self._photo_url, external_id)
        self.outbox.append(external_id, [reply_json(reply, photo_url) for reply in replies])

    async def push(self, external_id: str, reply: Reply, kind: str) -> None:
        """A message pushed later (a status change): the page's long poll delivers it."""
        await self.send(external_id, [reply])

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The uploaded bytes, handed out once."""
        data = self.uploads.take(attachment.ref)
        if data is None:
            raise AttachmentUnavailable(attachment.ref)
        if len(data) > max_bytes:
            raise AttachmentTooLarge(attachment.ref)
        return data

    # --- HTTP ---------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        return web.FileResponse(STATIC_DIR / "index.html", headers=headers)

    @_api
    async def bootstrap(self, request: web.Request) -> web.StreamResponse:
        """Starts or renews the session and tells the page everything it needs to draw itself."""
        if self.sessions.cross_origin(request):
            raise ApiError(403, "cross_origin", "cross-site requests are refused")
        session = self.sessions.read_or_new(request)
        language, registered = await self._citizen(session.user_id)
        hint = _language_hint(request)[:2].lower()
        box = self.settings.service_area.bounding_box
        payload = {
            "csrf": session.csrf,
            "epoch": self.outbox.epoch,
            "messages": self.outbox.since(session.user_id, 0),
            "language": language or (hint if hint in ("en", "hi") else self.settings.dialog.default_language),
            "registered": registered,
            "demo": await self.demo_probe() if self.demo_probe is not None else {"active": False},
            "sms": False,
            "limits": {"photo_max_bytes": self.photo_limit, "text_max": TEXT_MAX},
            "map": {
                "bbox": [box.min_lat, box.min_lon, box.max_lat, box.max_lon],
                "center": list(MAP_CENTRE),
                "districts": self.settings.service_area.districts,
            },
        }
        response = web.json_response(payload)
        self.sessions.set_cookie(request, response, session)
        return response

    @_api
    async def message(self, request: web.Request) -> web.StreamResponse:
        """One text, button, location or contact from the page."""
        user_id = self._guard(request)
        if request.content_type != "application/json":
            raise ApiError(415, "bad_content_type", "send application/json")
        raw = await _read_limited(request, MESSAGE_MAX_BYTES)
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, "bad_json", "the body is not valid JSON") from None
        fields = event_fields(body)
        if isinstance(fields.get("contact"), Contact):
            fields["contact"] = await self._vouch(user_id, fields["contact"])
        return await self._submit(request, user_id, body.get("id"), body.get("after"), fields)

    @_api
    async def photo(self, request: web.Request) -> web.StreamResponse:
        """One photo upload (multipart field "photo"); size is limited before and while reading."""
        user_id = self._guard(request)
        if request.content_type != "multipart/form-data":
            raise ApiError(415, "bad_content_type", "send multipart/form-data with a 'photo' field")
        if request.content_length is not None and request.content_length > self.photo_limit + MULTIPART_OVERHEAD:
            raise self._too_large()
        try:
            data, mime = await self._read_photo(request)
        except (ValueError, HttpProcessingError):
            raise ApiError(400, "bad_multipart", "the body is not a valid multipart form") from None
        ref = self.uploads.put(data, mime)
        if ref is None:
            raise ApiError(503, "busy", "too many uploads at once; try again in a moment")
        attachment = Attachment(ref=ref, mime_type=mime, size_bytes=len(data), is_photo=mime.startswith("image/"))
        query = request.query
        return await self._submit(request, user_id, query.get("id"), query.get("after"), {"attachments": (attachment,)})

    @_api
    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Long poll: messages after `after`, waiting up to webchat.long_poll_s for the first."""
        user_id = self._guard(request)
        after = after_seq(request.query.get("after"))
        limit = float(self.settings.webchat.long_poll_s)
        try:
            wait = min(limit, max(0.0, float(request.query.get("wait", limit))))
        except ValueError:
            raise ApiError(400, "bad_wait", "wait must be a number of seconds") from None
        found = await self.outbox.wait(user_id, after, wait)
        return web.json_response({"epoch": self.outbox.epoch, "messages": found})

    @_api
    async def reply_photo(self, request: web.Request) -> web.StreamResponse:
        """A photo from a reply, only for the user it was sent to."""
        user_id = self._guard(request, csrf=False)
        path, signature = request.query.get("path", ""), request.query.get("sig", "")
        if not _PHOTO_PATH.match(path) or not self.sessions.verify("photo", f"{user_id}\n{path}", signature):
            raise ApiError(404, "not_found", "no such photo")
        file = self.runtime.photo_store.path_of(path)
        if not file.is_file():
            raise ApiError(404, "not_found", "no such photo")
        return web.FileResponse(file, headers={"Cache-Control": "private, max-age=86400"})

    # --- helpers ------------------------------------------------------------------------------

    async def _read_photo(self, request: web.Request) -> tuple[bytes, str]:
        """The bytes and declared type of the form's "photo" file, stopping as soon as it is too large."""
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "photo":
            raise ApiError(400, "no_photo", "the form needs exactly one file field named 'photo'")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > self.photo_limit:
                raise self._too_large()
        if not data:
            raise ApiError(400, "empty_photo", "the photo is empty")
        mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
        return bytes(data), mime

    def _guard(self, request: web.Request, *, csrf: bool = True) -> str:
        """The session's user id; refuses cross-site requests, missing or forged sessions, bad CSRF tokens."""
        if self.sessions.cross_origin(request):
            raise ApiError(403, "cross_origin", "cross-site requests are refused")
        session = self.sessions.read(request)
        if session is None:
            raise ApiError(401, "no_session", "no valid session; reload the page")
        if csrf and not self.sessions.csrf_ok(request, session):
            raise ApiError(403, "bad_csrf", "missing or wrong X-CSRF-Token header")
        return session.user_id

    async def _submit(
        self, request: web.Request, user_id: str, raw_id: Any, raw_after: Any, fields: dict[str, Any]
    ) -> web.StreamResponse:
        message_id = client_message_id(raw_id)
        after = after_seq(raw_after)
        event = InboundEvent(
            channel=CHANNEL,
            external_id=user_id,
            update_id=f"{user_id}:{message_id}" if message_id else None,
            language_hint=_language_hint(request) or None,
            **fields,
        )
        try:
            # Shielded: a page that gives up waiting must not cancel the event half-way.
            await asyncio.shield(self.engine.submit(event, self))
        except Exception:
            log.exception("web chat event failed")
            raise ApiError(500, "internal", "the bot could not handle this; please try again") from None
        finally:
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                for attachment in event.attachments:
                    self.uploads.take(attachment.ref)  # the engine may refuse one without fetching it
        language, registered = await self._citizen(user_id)
        messages = self.outbox.since(user_id, after)
        return web.json_response(
            {"epoch": self.outbox.epoch, "messages": messages, "language": language, "registered": registered}
        )

    async def _citizen(self, user_id: str) -> tuple[str | None, bool]:
        async with self.runtime.db.reader() as session:
            identity = await CitizenRepository(session).identity(CHANNEL, user_id)
        if identity is None:
            return None, False
        return identity.citizen.language, identity.citizen.registered_at is not None

    async def _vouch(self, user_id: str, contact: Contact) -> Contact:
        """The typed number counts as the user's own unless it already belongs to another citizen.

        No SMS proves ownership here, so a web chat session must never take over (and see the
        complaints of) a citizen registered with that number on another channel.
        """
        phone = normalise_mobile(contact.phone)
        if phone is None:
            return contact
        async with self.runtime.db.reader() as session:
            citizens = CitizenRepository(session)
            owner = await citizens.by_phone(phone)
            if owner is None:
                return contact
            mine = await citizens.identity(CHANNEL, user_id)
            if mine is not None and mine.citizen_id == owner.id:
                return contact
        log.info("web chat: a number already registered to another citizen was not accepted")
        return Contact(phone=contact.phone, is_own=False)

    def _photo_url(self, user_id: str, relative: str) -> str:
        signature = self.sessions.sign("photo", f"{user_id}\n{relative}")
        return f"/api/reply-photo?path={quote(relative)}&sig={signature}"

    def _too_large(self) -> ApiError:
        megabytes = self.photo_limit / (1024 * 1024)
        return ApiError(413, "too_large", f"the photo is larger than {megabytes:.0f} MB")


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes, declared or streamed."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_chunked(8192):
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    return bytes(body)


def _language_hint(request: web.Request) -> str:
    """The browser's first preferred language (e.g. "hi-IN"), or ""."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return first[:16]


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
