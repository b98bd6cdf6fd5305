"""In-memory state of the fake Bot API: users, files, the update queue, the bot's outbox, recorded calls.

No HTTP here: bot_api_methods.py implements the Bot API methods on this state and bot_api.py serves
them. Everything runs on one event loop; waiters are woken by replacing an asyncio.Event.

Crash tests use two more controls: ``hold(...)`` stalls matching requests (Bot API calls or file
downloads) before the fake sees them, until ``release()``; a client that dies while held leaves no
trace, as if its request never reached Telegram. ``deliveries`` counts how often getUpdates handed
out each update (an update is handed out again until a later offset confirms it, as in Telegram);
``redeliver(update_id)`` queues an update again, as Telegram does when a confirmation never reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.updates import JSON, VISIBLE_METHODS, SentMessage, photo_variants, private_chat

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_UPDATE_KINDS = ("message", "edited_message", "callback_query", "inline_query", "chat_member", "my_chat_member")


class ApiError(Exception):
    """A Bot API error answer: HTTP status == error_code, plus description and optional parameters."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code, self.description, self.parameters = code, description, parameters

    def to_json(self) -> JSON:
        """The error envelope Telegram sends."""
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    """A 400 'Bad Request: ...' error."""
    return ApiError(400, f"Bad Request: {what}")


@dataclass
class StoredFile:
    """Bytes held by the fake; ``file_size`` may be declared bigger than the bytes (to test limits)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_path: str

    def to_json(self) -> JSON:
        """The File object getFile returns (and the ids for PhotoSize/Document)."""
        return {k: getattr(self, k) for k in ("file_id", "file_unique_id", "file_size", "file_path")}


@dataclass
class Hold:
    """Which requests to stall: a Bot API method (any case) or "download", optionally one chat and a text fragment."""

    method: str
    chat_id: int | None = None
    text: str | None = None

    def matches(self, method: str, params: JSON) -> bool:
        """Whether a request with this method and params is stalled by the hold."""
        if method.lower() != self.method.lower():
            return False
        if self.chat_id is not None and str(params.get("chat_id")) != str(self.chat_id):
            return False
        return self.text is None or self.text in str(params.get("text") or params.get("caption") or "")


@dataclass(frozen=True)
class HeldRequest:
    """A request waiting at a hold: its method ("download" for files) and params (``file_path`` for files)."""

    method: str
    params: JSON


@dataclass
class Call:
    """One bot->API request as received: method name as sent, params decoded, uploads by size."""

    method: str
    params: JSON
    uploads: dict[str, int] = field(default_factory=dict)
    ts: float = field(default_factory=time.monotonic)
    error: str | None = None

    def to_json(self) -> JSON:
        """JSON-ready form for the control API."""
        return {"method": self.method, "params": self.params, "uploads": self.uploads, "ts": self.ts,
                "error": self.error}


class BotApiState:
    """The fake's memory; injection (push_update, add_file) and inspection (sent, calls) live here."""

    def __init__(self, token: str, *, flood_limit_per_chat_per_s: int | None = None,
                 flood_limit_global_per_s: int | None = None) -> None:
        self.token = token
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1
        self.bot_user: JSON = {
            "id": bot_id, "is_bot": True, "first_name": "V-Mitra Test", "username": "vmitra_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }
        self.flood_limit_per_chat_per_s = flood_limit_per_chat_per_s
        self.flood_limit_global_per_s = flood_limit_global_per_s
        self.users: dict[int, JSON] = {}
        self.blocked: set[int] = set()
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self.calls: list[Call] = []
        self.webhook: JSON = {"url": ""}
        self.callback_queries: dict[str, JSON] = {}
        self.callback_answers: dict[str, JSON] = {}
        self.bot_commands: dict[tuple[str, str], list[JSON]] = {}
        self.messages: dict[tuple[int, int], JSON] = {}  # current version of each bot message
        self.outbox: dict[int, list[SentMessage]] = defaultdict(list)
        self.updates_pushed = 0
        self.closing = False
        self._updates: list[JSON] = []
        self._pushed: dict[int, JSON] = {}  # every update ever pushed, for redeliver()
        self._allowed_updates: list[str] | None = None
        self._next_update_id = 100_000_001
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._file_seq = itertools.count(1)
        self._update_event = asyncio.Event()
        self._outbox_events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._poll_owner: object | None = None
        self._wait_cursor: dict[int, int] = defaultdict(int)
        self._flood: dict[tuple[Any, ...], deque[float]] = defaultdict(deque)
        self.deliveries: dict[int, int] = defaultdict(int)  # update_id -> times getUpdates handed it out
        self.holds: list[Hold] = []
        self.failures: dict[str, int] = {}  # method -> how many of its next requests fail with 502
        self.held: list[HeldRequest] = []  # requests stalled right now
        self._released = asyncio.Event()
        self._held_event = asyncio.Event()

    # ---- users and files -------------------------------------------------------------------
    def add_user(self, user: JSON) -> None:
        """Make a user known, as if they had opened the chat (needed before the bot can write)."""
        self.users[user["id"]] = user

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them fail with 403 Forbidden."""
        self.blocked.add(user_id)

    def chat_of(self, chat_id: Any) -> JSON:
        """The private chat a bot call targets, or the error Telegram would answer."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not isinstance(chat_id, int) or chat_id not in self.users:
            raise bad_request("chat not found")
        return private_chat(self.users[chat_id])

    def add_file(self, data: bytes, file_size: int | None = None, *, kind: str = "documents", ext: str = "bin") -> str:
        """Store bytes; returns the file_id (``file_size`` may declare a bigger size than the bytes)."""
        return self.store_file(data, file_size, kind=kind, ext=ext).file_id

    def store_file(self, data: bytes, file_size: int | None = None, *, kind: str = "documents",
                   ext: str = "bin") -> StoredFile:
        """Store bytes and return the full record."""
        n = next(self._file_seq)
        stored = StoredFile(
            file_id=f"AgAC{kind[:2].upper()}{n:06d}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{n:06d}{secrets.token_urlsafe(6)}", data=data,
            file_size=len(data) if file_size is None else file_size, file_path=f"{kind}/file_{n}.{ext}",
        )
        self.files[stored.file_id] = self._files_by_path[stored.file_path] = stored
        return stored

    def file_by_path(self, file_path: str) -> StoredFile | None:
        """The stored file served at /file/bot<token>/<file_path>."""
        return self._files_by_path.get(file_path)

    def store_photo(self, data: bytes) -> list[JSON]:
        """Store a photo as Telegram would (several sizes, largest last); returns the PhotoSize list."""
        sizes = []
        for blob, width, height in photo_variants(data):
            stored = self.store_file(blob, kind="photos", ext="jpg")
            sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": stored.file_size, "width": width, "height": height})
        return sizes

    # ---- updates -------------------------------------------------------------------------------
    def push_update(self, update: JSON) -> int:
        """Queue an update for getUpdates; assigns update_id (and message_id); wakes waiting pollers."""
        update = dict(update)
        update["update_id"] = update_id = self._next_update_id
        self._next_update_id += 1
        for kind in ("message", "edited_message"):
            if kind in update:
                message = update[kind] = dict(update[kind])
                self.users.setdefault(message["from"]["id"], message["from"])
                message.setdefault("message_id", next(self._message_ids[message["chat"]["id"]]))
        if "callback_query" in update:
            query = update["callback_query"]
            self.users.setdefault(query["from"]["id"], query["from"])
            self.callback_queries[query["id"]] = query
        self._updates.append(update)
        self._pushed[update_id] = update
        self.updates_pushed += 1
        self._wake_pollers()
        return update_id

    def redeliver(self, update_id: int) -> None:
        """Queue a pushed update again under its own id, as Telegram does when its confirmation was lost."""
        if update_id not in {u["update_id"] for u in self._updates}:
            self._updates = sorted([*self._updates, self._pushed[update_id]], key=lambda u: u["update_id"])
        self._wake_pollers()

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by an offset."""
        return list(self._updates)

    def drop_pending_updates(self) -> None:
        """Forget every unconfirmed update (deleteWebhook/setWebhook with drop_pending_updates)."""
        self._updates.clear()

    async def get_updates(
        self, offset: int, limit: int, poll_timeout: float, allowed_updates: list[str] | None
    ) -> list[JSON]:
        """getUpdates: confirm below offset on arrival, long-poll up to poll_timeout; a newer poll ends it (409)."""
        if allowed_updates is not None:
            self._allowed_updates = list(allowed_updates) or None
        me = object()
        self._poll_owner = me
        self._wake_pollers()
        self._confirm(offset)
        deadline = time.monotonic() + max(0.0, min(float(poll_timeout), 50.0))
        while True:
            if self._poll_owner is not me:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")
            batch = self._deliverable()[: max(1, min(limit, 100))]
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self.closing:
                for update in batch:
                    self.deliveries[update["update_id"]] += 1
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_event.wait(), remaining)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self) -> list[JSON]:
        allowed = self._allowed_updates

        def wanted(update: JSON) -> bool:
            kind = next((k for k in update if k != "update_id"), "")
            return kind in allowed if allowed else kind not in DEFAULT_EXCLUDED_UPDATES

        self._updates = [u for u in self._updates if wanted(u)]  # Telegram never creates unwanted ones
        return self._updates

    def _wake_pollers(self) -> None:
        self._update_event.set()
        self._update_event = asyncio.Event()

    # ---- the bot's outbox --------------------------------------------------------------------
    def new_message(self, chat: JSON, content: JSON, reply_markup: JSON | None) -> JSON:
        """A Message object from the bot to the chat, with the chat's next message_id."""
        message: JSON = {"message_id": next(self._message_ids[chat["id"]]), "from": self.bot_user, "chat": chat,
                         "date": int(time.time()), **content}
        if reply_markup and "inline_keyboard" in reply_markup:
            message["reply_markup"] = reply_markup
        return message

    def record(self, method: str, message: JSON, reply_markup: JSON | None) -> SentMessage:
        """Remember a bot message (new or edited) and wake whoever waits on the chat."""
        chat_id = message["chat"]["id"]
        self.messages[(chat_id, message["message_id"])] = message
        events = self.outbox[chat_id]
        event = SentMessage(len(events), method, chat_id, message["message_id"], message, reply_markup,
                            time.monotonic())
        events.append(event)
        self._outbox_events.pop(chat_id, asyncio.Event()).set()
        return event

    def sent(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent (or edited the text of) in the chat, in order."""
        return [e for e in self.outbox.get(chat_id, []) if e.method in VISIBLE_METHODS]

    async def events(self, chat_id: int, after: int = 0, timeout: float = 0.0) -> list[SentMessage]:  # noqa: ASYNC109
        """All outbox events of the chat from position ``after`` on, waiting up to timeout for one."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.outbox.get(chat_id, [])[after:]
            remaining = deadline - time.monotonic()
            if found or remaining <= 0 or self.closing:
                return found
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_events[chat_id].wait(), remaining)

    async def wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0  # noqa: ASYNC109 (the test API's deadline)
    ) -> list[SentMessage]:
        """The next ``count`` visible bot messages to the chat since the last wait (fails after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            cursor = self._wait_cursor[chat_id]
            new = [e for e in self.outbox.get(chat_id, [])[cursor:] if e.method in VISIBLE_METHODS]
            if len(new) >= count:
                self._wait_cursor[chat_id] = new[count - 1].seq + 1
                return new[:count]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closing:
                got = [e.describe() for e in new]
                raise AssertionError(f"expected {count} bot message(s) to chat {chat_id} within {timeout}s, got {got}")
            await self.events(chat_id, len(self.outbox.get(chat_id, [])), remaining)

    # ---- holds (crash tests) ------------------------------------------------------------------
    def hold(self, method: str, *, chat_id: int | None = None, text: str | None = None) -> None:
        """Stall requests of ``method`` ("download": file downloads), optionally to one chat with a text fragment."""
        if not self.holds:
            self._released = asyncio.Event()
        self.holds.append(Hold(method, chat_id, text))

    def release(self) -> None:
        """Drop every hold; stalled requests go on as if they had just arrived."""
        self.holds.clear()
        self._released.set()

    def fail_next(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``method`` ("download": file downloads) with 502 Bad Gateway."""
        self.failures[method] = self.failures.get(method, 0) + times

    async def pass_holds(self, method: str, params: JSON) -> None:
        """Wait here while a hold matches the request; a cancelled wait (the client died) leaves no trace.

        A failure queued by fail_next is raised here too, as an ApiError(502).
        """
        if self.failures.get(method, 0) > 0:
            self.failures[method] -= 1
            raise ApiError(502, "Bad Gateway")
        if not any(h.matches(method, params) for h in self.holds):
            return
        request = HeldRequest(method, params)
        self.held.append(request)
        self._held_event.set()
        self._held_event = asyncio.Event()
        try:
            await self._released.wait()
        finally:
            self.held.remove(request)

    async def wait_held(self, count: int = 1, timeout: float = 5.0) -> list[HeldRequest]:  # noqa: ASYNC109
        """The requests stalled at holds, once there are at least ``count`` (fails after timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.held) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closing:
                raise AssertionError(f"expected {count} held request(s) within {timeout}s, got {self.held}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._held_event.wait(), remaining)
        return list(self.held)

    # ---- calls, commands, flood ------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        """Recorded calls of one method (case-insensitive name)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        """The command list set for a scope and language (what getMyCommands answers)."""
        return self.bot_commands.get((scope_key(scope), language_code), [])

    def check_flood(self, chat_id: int) -> None:
        """Answer 429 with retry_after when a per-chat or global sends-per-second limit is exceeded."""
        now = time.monotonic()
        limits = [(key, limit) for key, limit in ((("chat", chat_id), self.flood_limit_per_chat_per_s),
                                                  (("all",), self.flood_limit_global_per_s)) if limit]
        for key, limit in limits:
            window = self._flood[key]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                retry_after = max(1, math.ceil(1.0 - (now - window[0])))
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for key, _ in limits:
            self._flood[key].append(now)

    def close(self) -> None:
        """Release every waiter (the server is stopping)."""
        self.closing = True
        self._wake_pollers()
        self.release()
        self._held_event.set()
        for event in list(self._outbox_events.values()):
            event.set()


def scope_key(scope: JSON | None) -> str:
    """Canonical key of a BotCommandScope (default scope when None)."""
    scope = scope or {"type": "default"}
    return ",".join(f"{k}={scope[k]}" for k in sorted(scope))
