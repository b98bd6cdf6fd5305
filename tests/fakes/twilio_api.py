"""A fake Twilio REST API on 127.0.0.1, good enough for the real twilio SDK pointed at it.

    async with FakeTwilioApi(account_sid, auth_token) as api:
        client.api.base_url = api.base_url          # what WhatsAppSender does with twilio.api_base_url
        api.fail_next(20429, times=2)               # the next two calls answer HTTP 429, code 20429
        url = api.add_media(jpeg, "image/jpeg")     # a MediaUrl as Twilio would put in a webhook
        [message] = await api.wait_for_messages(1)

Endpoints:

    POST /2010-04-01/Accounts/{sid}/Messages.json          basic auth; records the form; 201 {"sid": "SM...",
                                                           "status": "queued", ...} or Twilio's error JSON
    GET  /2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}   basic auth (401 without); 307 to the CDN
                                                           (served from "localhost", another origin), or the bytes
    GET  /cdn/{ME}                                         the bytes with their Content-Type, no auth needed

Error 63016 (free text outside the 24-hour window) is only given to free-text messages, as Twilio does:
a template (ContentSid) goes through.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections import deque
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

from aiohttp import hdrs, web
from aiohttp.test_utils import TestServer

from storage.models import utcnow

API_VERSION = "2010-04-01"
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21604: (400, "A 'To' phone number is required."),
    21603: (400, "A 'From' phone number is required."),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21619: (400, "A text message body or media urls must be specified."),
    21656: (400, "The ContentVariables Parameter is invalid."),
    63016: (400, "Failed to send freeform message because you are outside the allowed window."),
}


@dataclass
class SentMessage:
    """One messages.create call as Twilio received it."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: list[str]
    content_sid: str | None
    content_variables: dict[str, str] | None
    params: dict[str, list[str]]


@dataclass
class _Media:
    data: bytes
    content_type: str
    declare_length: bool
    via_cdn: bool


@dataclass
class MediaRequest:
    path: str
    authorized: bool
    host: str


@dataclass
class _Failure:
    code: int
    remaining: int


@dataclass
class FakeTwilioApi:
    """The fake API: recorded calls, programmable failures, media behind basic auth."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    messages: list[SentMessage] = field(default_factory=list)
    attempts: int = 0
    media_requests: list[MediaRequest] = field(default_factory=list)
    bytes_served: int = 0
    _failures: deque[_Failure] = field(default_factory=deque)
    _media: dict[str, _Media] = field(default_factory=dict)
    _server: TestServer | None = None
    _arrived: asyncio.Condition | None = None

    async def __aenter__(self) -> FakeTwilioApi:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        prefix = f"/{API_VERSION}/Accounts/{{sid}}"
        app.router.add_post(prefix + "/Messages.json", self._create_message)
        app.router.add_get(prefix + "/Messages/{message}/Media/{media}", self._media_api)
        app.router.add_get("/cdn/{media}", self._cdn)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self._arrived = asyncio.Condition()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.port is not None
        return self._server.port

    @property
    def base_url(self) -> str:
        """What twilio.api_base_url points at (the SDK's Api domain base_url)."""
        return f"http://127.0.0.1:{self.port}"

    # -- programming the fake ------------------------------------------------------------------

    def fail_next(self, code: int, times: int = 1) -> None:
        """The next `times` messages.create calls answer Twilio error `code` (63016: free text only)."""
        self._failures.append(_Failure(code, times))

    def add_media(self, data: bytes, content_type: str, *, declare_length: bool = True, via_cdn: bool = True) -> str:
        """Stores bytes and returns the MediaUrl Twilio would send in the webhook."""
        media_id = "ME" + secrets.token_hex(16)
        self._media[media_id] = _Media(data, content_type, declare_length, via_cdn)
        message_id = "MM" + secrets.token_hex(16)
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_id}/Media/{media_id}"

    def sent_to(self, number: str) -> list[SentMessage]:
        """Messages created for whatsapp:<number>."""
        return [m for m in self.messages if m.to == f"whatsapp:{number}"]

    async def wait_for_messages(self, count: int, to: str | None = None, within_s: float = 5.0) -> list[SentMessage]:
        """Waits until `count` messages (to one number, if given) have been created."""
        assert self._arrived is not None

        def ready() -> bool:
            return len(self.sent_to(to) if to else self.messages) >= count

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(ready), within_s)
        return self.sent_to(to) if to else list(self.messages)

    # -- the API -------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (login, password) == (self.account_sid, self.auth_token)

    @staticmethod
    def _error(code: int, status: int | None = None) -> web.Response:
        http_status, message = ERRORS.get(code, (400, "Error"))
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status or http_status,
        }
        return web.json_response(body, status=status or http_status)

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return self._error(20003)
        form = await request.post()
        params: dict[str, list[str]] = {}
        for key, value in form.items():
            params.setdefault(key, []).append(str(value))
        self.attempts += 1
        one = {key: values[0] for key, values in params.items()}
        failure = self._take_failure(is_template="ContentSid" in one)
        if failure is not None:
            return self._error(failure)
        invalid = self._invalid(one, params)
        if invalid is not None:
            return self._error(invalid)
        message = SentMessage(
            sid="SM" + secrets.token_hex(16),
            to=one["To"],
            from_=one.get("From"),
            messaging_service_sid=one.get("MessagingServiceSid"),
            body=one.get("Body"),
            media_urls=params.get("MediaUrl", []),
            content_sid=one.get("ContentSid"),
            content_variables=json.loads(one["ContentVariables"]) if "ContentVariables" in one else None,
            params=params,
        )
        assert self._arrived is not None
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return web.json_response(self._resource(message), status=201)

    def _take_failure(self, *, is_template: bool) -> int | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        if failure.code == 63016 and is_template:
            return None
        failure.remaining -= 1
        if failure.remaining <= 0:
            self._failures.popleft()
        return failure.code

    @staticmethod
    def _invalid(one: dict[str, str], params: dict[str, list[str]]) -> int | None:
        if not one.get("To"):
            return 21604
        if not one.get("From") and not one.get("MessagingServiceSid"):
            return 21603
        if not one.get("Body") and "MediaUrl" not in params and not one.get("ContentSid"):
            return 21619
        if len(one.get("Body", "")) > 1600:
            return 21617
        if "ContentVariables" in one:
            try:
                if not isinstance(json.loads(one["ContentVariables"]), dict):
                    return 21656
            except ValueError:
                return 21656
        return None

    def _resource(self, message: SentMessage) -> dict[str, Any]:
        now = format_datetime(utcnow(), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": str(len(message.media_urls)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": "queued" if message.from_ else "accepted",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message.to,
            "uri": uri,
        }

    async def _media_api(self, request: web.Request) -> web.StreamResponse:
        authorized = self._authorized(request) and request.match_info["sid"] == self.account_sid
        self.media_requests.append(MediaRequest(request.path, authorized, request.host))
        if not authorized:
            return self._error(20003)
        media_id = request.match_info["media"]
        media = self._media.get(media_id)
        if media is None:
            return self._error(20404, 404)
        if media.via_cdn:
            raise web.HTTPTemporaryRedirect(f"http://localhost:{self.port}/cdn/{media_id}")
        return await self._serve(request, media)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.media_requests.append(MediaRequest(request.path, hdrs.AUTHORIZATION in request.headers, request.host))
        media = self._media.get(request.match_info["media"])
        if media is None:
            return web.Response(status=404)
        return await self._serve(request, media)

    async def _serve(self, request: web.Request, media: _Media) -> web.StreamResponse:
        """The bytes, with Content-Length or chunked (so a client cannot learn the size up front)."""
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: media.content_type})
        if media.declare_length:
            response.content_length = len(media.data)
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        view = memoryview(media.data)
        try:
            for start in range(0, len(view), 256 * 1024):
                chunk = view[start : start + 256 * 1024]
                await response.write(chunk)
                self.bytes_served += len(chunk)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading: that is the point of a size limit
        return response
