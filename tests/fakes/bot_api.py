"""A fake Telegram Bot API server on 127.0.0.1 for tests and benchmarks.

In-process::

    async with FakeBotApi(token="123:ABC") as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).base_file_url(api.base_file_url).build()
        api.push_update(text_update(user_json(42), "/start"))
        [reply] = await api.wait_for_messages(42)

Out of process (prints one ``FAKE_BOT_API_READY port=... control_url=...`` line, stops on SIGTERM)::

    python -m tests.fakes.bot_api --port 0 --token 123:ABC

Bot API: ``{base_url}{token}/{method}`` (GET or POST; query, form, multipart or JSON), answering
``{"ok": true, "result": ...}`` or Telegram's error envelope; files at ``/file/bot{token}/{file_path}``.

Control API (JSON, for drivers in another process; see HttpTransport in telegram_user.py):

    POST /_control/updates            body: update JSON -> {"update_id", "ts"}
    POST /_control/users              body: User JSON (known chat; the bot may write first)
    POST /_control/block?user_id=     the user blocks the bot (sends answer 403)
    POST /_control/files?file_size=&kind=&ext=   body: raw bytes -> stored File JSON
    POST /_control/photos             body: raw image bytes -> PhotoSize list (several sizes)
    GET  /_control/events?chat_id=&after=&timeout=   long poll: bot->chat events with seq >= after
    GET  /_control/calls?method=      recorded bot calls
    GET  /_control/commands?language_code=&scope=   what setMyCommands stored
    GET  /_control/stats              counters
    POST /_control/config             body: {"flood_limit_per_chat_per_s": n, "flood_limit_global_per_s": n}
    POST /_control/hold               body: {"method", "chat_id"?, "text"?}: stall matching requests (crash tests)
    POST /_control/release            let every stalled request through and drop the holds
    GET  /_control/held               the requests stalled right now

Holds: ``hold("download")`` stalls file downloads, ``hold("sendMessage", chat_id=42, text="Recorded")``
the bot's matching sends, until ``release()``; ``wait_held()`` waits for a stalled request. A stalled
request is not recorded or executed, so a bot killed meanwhile leaves no trace of it, as if it never
reached Telegram. ``deliveries[update_id]`` counts how often getUpdates handed out an update: like
Telegram, the fake hands an update out again until a later getUpdates offset confirms it, and
``redeliver(update_id)`` queues one again (Telegram's retry when it never got the confirmation).

``ts`` values are the fake's monotonic clock, so push->reply latency is measured on one clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from aiohttp import web

from tests.fakes.bot_api_methods import call_method
from tests.fakes.bot_api_state import ApiError, BotApiState
from tests.fakes.updates import JSON

# Parameters whose string value is the value itself; every other form field is JSON-decoded if it parses.
TEXT_FIELDS = frozenset({
    "text", "caption", "photo", "document", "audio", "video", "voice", "sticker", "animation", "file_id",
    "callback_query_id", "url", "secret_token", "language_code", "parse_mode", "inline_message_id", "action",
    "description", "short_description", "name", "title", "emoji", "ip_address", "business_connection_id",
    "message_effect_id", "phone_number", "first_name", "last_name", "address", "certificate",
})
# Parameters that are JSON even inside a JSON body (some clients send them pre-serialised).
JSON_FIELDS = frozenset({"reply_markup", "entities", "caption_entities", "media", "commands", "scope",
                         "allowed_updates", "link_preview_options", "reply_parameters"})
READY_MARK = "FAKE_BOT_API_READY"


def decode_param(name: str, raw: str) -> Any:
    """A form field as a Python value: JSON-decoded unless it is a text field or not JSON."""
    if name in TEXT_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


async def read_params(request: web.Request) -> tuple[JSON, dict[str, bytes]]:
    """Params from the query string and the body (form, multipart or JSON), plus uploaded files."""
    params: JSON = {k: decode_param(k, v) for k, v in request.query.items()}
    uploads: dict[str, bytes] = {}
    if request.content_type == "application/json":
        for key, value in (await request.json()).items():
            params[key] = json.loads(value) if key in JSON_FIELDS and isinstance(value, str) else value
    elif request.can_read_body:
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                uploads[key] = value.file.read()
            else:
                params[key] = decode_param(key, str(value))
    return params, uploads


def _answer(body: JSON, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


def _error(err: ApiError) -> web.Response:
    return _answer(err.to_json(), err.code)


class FakeBotApi(BotApiState):
    """The fake server: BotApiState (injection and inspection) served over HTTP on 127.0.0.1."""

    def __init__(self, token: str = "123456:TEST-TOKEN", *, host: str = "127.0.0.1", port: int = 0,
                 flood_limit_per_chat_per_s: int | None = None, flood_limit_global_per_s: int | None = None) -> None:
        super().__init__(token, flood_limit_per_chat_per_s=flood_limit_per_chat_per_s,
                         flood_limit_global_per_s=flood_limit_global_per_s)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    @property
    def root_url(self) -> str:
        """http://host:port"""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder.base_url (PTB appends the token)."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ApplicationBuilder.base_file_url (PTB appends the token)."""
        return f"{self.root_url}/file/bot"

    @property
    def control_url(self) -> str:
        """Root of the control API."""
        return f"{self.root_url}/_control"

    async def start(self) -> FakeBotApi:
        """Bind and serve; a port of 0 picks a free one."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        control = [
            ("POST", "updates", self._c_push), ("POST", "users", self._c_user), ("POST", "block", self._c_block),
            ("POST", "files", self._c_file), ("POST", "photos", self._c_photo), ("GET", "events", self._c_events),
            ("GET", "calls", self._c_calls), ("GET", "commands", self._c_commands), ("GET", "stats", self._c_stats),
            ("POST", "config", self._c_config), ("POST", "hold", self._c_hold), ("POST", "release", self._c_release),
            ("GET", "held", self._c_held),
        ]
        for verb, name, handler in control:
            app.router.add_route(verb, f"/_control/{name}", handler)
        app.router.add_get("/file/{prefix}/{path:.+}", self._download)
        app.router.add_route("*", "/{prefix}/{method}", self._bot_method)
        self.closing = False
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Release waiters and shut the server down."""
        self.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- Bot API -------------------------------------------------------------------------------
    async def _bot_method(self, request: web.Request) -> web.Response:
        prefix = request.match_info["prefix"]
        if not prefix.startswith("bot"):
            return _error(ApiError(404, "Not Found"))
        if prefix[3:] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        try:
            params, uploads = await read_params(request)
            await self.pass_holds(request.match_info["method"], params)
            result = await call_method(self, request.match_info["method"], params, uploads)
        except ApiError as err:
            return _error(err)
        return _answer({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["prefix"] != f"bot{self.token}":
            return _error(ApiError(401, "Unauthorized"))
        try:
            await self.pass_holds("download", {"file_path": request.match_info["path"]})
        except ApiError as err:
            return _error(err)
        stored = self.file_by_path(request.match_info["path"])
        if stored is None:
            return _error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ---- control API ---------------------------------------------------------------------------
    async def _c_push(self, request: web.Request) -> web.Response:
        update_id = self.push_update(await request.json())
        return _answer({"update_id": update_id, "ts": time.monotonic()})

    async def _c_user(self, request: web.Request) -> web.Response:
        self.add_user(await request.json())
        return _answer({"ok": True})

    async def _c_block(self, request: web.Request) -> web.Response:
        self.block(int(request.query["user_id"]))
        return _answer({"ok": True})

    async def _c_file(self, request: web.Request) -> web.Response:
        size = request.query.get("file_size")
        stored = self.store_file(await request.read(), int(size) if size else None,
                                 kind=request.query.get("kind", "documents"), ext=request.query.get("ext", "bin"))
        return _answer(stored.to_json())

    async def _c_photo(self, request: web.Request) -> web.Response:
        return _answer({"sizes": self.store_photo(await request.read())})

    async def _c_events(self, request: web.Request) -> web.Response:
        query = request.query
        found = await self.events(int(query["chat_id"]), int(query.get("after", 0)), float(query.get("timeout", 0)))
        return _answer({"events": [e.to_json() for e in found]})

    async def _c_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        calls = self.calls_of(method) if method else self.calls
        return _answer({"calls": [c.to_json() for c in calls]})

    async def _c_commands(self, request: web.Request) -> web.Response:
        scope = json.loads(request.query["scope"]) if "scope" in request.query else None
        return _answer({"commands": self.commands(request.query.get("language_code", ""), scope)})

    async def _c_stats(self, request: web.Request) -> web.Response:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.method] = counts.get(call.method, 0) + 1
        return _answer({"updates_pushed": self.updates_pushed, "pending_updates": len(self.pending_updates),
                        "calls": counts, "errors": sum(1 for c in self.calls if c.error)})

    async def _c_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        for key in ("flood_limit_per_chat_per_s", "flood_limit_global_per_s"):
            if key in body:
                setattr(self, key, body[key])
        return _answer({"ok": True})

    async def _c_hold(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.hold(body["method"], chat_id=body.get("chat_id"), text=body.get("text"))
        return _answer({"ok": True})

    async def _c_release(self, request: web.Request) -> web.Response:
        self.release()
        return _answer({"ok": True})

    async def _c_held(self, request: web.Request) -> web.Response:
        return _answer({"held": [{"method": h.method, "params": h.params} for h in self.held]})


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT, after printing the ready line."""
    api = FakeBotApi(args.token, host=args.host, port=args.port, flood_limit_per_chat_per_s=args.flood_per_chat,
                     flood_limit_global_per_s=args.flood_global)
    async with api:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"{READY_MARK} port={api.port} base_url={api.base_url} base_file_url={api.base_file_url} "
              f"control_url={api.control_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command line: python -m tests.fakes.bot_api --port 0 --token T."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="123456:TEST-TOKEN")
    parser.add_argument("--flood-per-chat", type=int, default=None, help="429 above this many sends/s per chat")
    parser.add_argument("--flood-global", type=int, default=None, help="429 above this many sends/s in total")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
