"""In-memory state of the web chat: each user's recent messages (with sequence numbers) and pending uploads.

Both live in this process only, bounded, which is enough for a local demo: after a restart the
conversation state is still in the database, only the scroll-back of the page starts afresh
(the page notices through the `epoch`, which changes on every start).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Box:
    messages: deque[dict[str, Any]]
    next_seq: int = 1
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class Outbox:
    """Per-user message lists with increasing sequence numbers, and long-poll waiting for new ones."""

    def __init__(self, *, per_user: int = 200, max_users: int = 10_000) -> None:
        self.per_user = per_user
        self.max_users = max_users
        self.epoch = secrets.token_hex(6)
        self._boxes: OrderedDict[str, _Box] = OrderedDict()
        self._closed = False

    def close(self) -> None:
        """Release every waiting poller at once (shutdown must not wait for long polls to time out)."""
        self._closed = True
        for box in self._boxes.values():
            box.arrived.set()

    def _box(self, user_id: str) -> _Box:
        box = self._boxes.get(user_id)
        if box is None:
            box = _Box(messages=deque(maxlen=self.per_user))
            self._boxes[user_id] = box
            while len(self._boxes) > self.max_users:
                _, dropped = self._boxes.popitem(last=False)  # least recently used
                dropped.arrived.set()
        else:
            self._boxes.move_to_end(user_id)
        return box

    def append(self, user_id: str, messages: list[dict[str, Any]]) -> None:
        """Give each message the next sequence number and wake the user's waiting pollers."""
        if not messages:
            return
        box = self._box(user_id)
        for message in messages:
            box.messages.append({**message, "seq": box.next_seq})
            box.next_seq += 1
        box.arrived.set()
        box.arrived = asyncio.Event()

    def since(self, user_id: str, after: int) -> list[dict[str, Any]]:
        """The user's kept messages with a sequence number above `after`, oldest first."""
        box = self._boxes.get(user_id)
        if box is None:
            return []
        return [m for m in box.messages if m["seq"] > after]

    async def wait(self, user_id: str, after: int, wait_s: float) -> list[dict[str, Any]]:
        """Messages after `after`, waiting up to `wait_s` seconds for the first one to arrive."""
        found = self.since(user_id, after)
        if found or wait_s <= 0 or self._closed:
            return found
        event = self._box(user_id).arrived
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), wait_s)
        return self.since(user_id, after)


@dataclass(frozen=True)
class _Upload:
    data: bytes
    mime_type: str
    stored_at: float


class UploadStore:
    """Uploaded photo bytes waiting for the engine to fetch them once; bounded in count, bytes and age."""

    def __init__(self, *, max_total_bytes: int = 64 * 1024 * 1024, max_age_s: float = 600.0) -> None:
        self.max_total_bytes = max_total_bytes
        self.max_age_s = max_age_s
        self._items: OrderedDict[str, _Upload] = OrderedDict()
        self._total = 0

    def put(self, data: bytes, mime_type: str) -> str | None:
        """Keep the bytes under a new random ref; None when the store is full (the caller answers 503)."""
        self._expire()
        if self._total + len(data) > self.max_total_bytes:
            return None
        ref = secrets.token_urlsafe(18)
        self._items[ref] = _Upload(data, mime_type, time.monotonic())
        self._total += len(data)
        return ref

    def take(self, ref: str) -> bytes | None:
        """The bytes for a ref, forgotten as they are handed out."""
        item = self._items.pop(ref, None)
        if item is None:
            return None
        self._total -= len(item.data)
        return item.data

    def _expire(self) -> None:
        limit = time.monotonic() - self.max_age_s
        while self._items:
            ref, item = next(iter(self._items.items()))
            if item.stored_at >= limit:
                break
            self.take(ref)
