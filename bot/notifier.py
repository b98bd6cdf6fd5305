"""The notifier: delivers the outbox in order per chat, within each channel's rate limits, surviving restarts.

Pushed messages (status updates, assignments, reminders) are written to the outbox in the same
transaction as the change they report, so a crash can never lose one. This worker claims them
(one unsettled message per chat at a time, so each chat sees them in order), paces the calls
(Telegram: about 30 messages/s overall and 1/s per chat), and settles each: sent, deferred
after a 429 with its retry_after, or failed for good (the user blocked the bot).
A message whose sender died mid-call is returned to the queue when the notifier starts again (or,
claimed by another process, after `stale_after`) and may be delivered twice; nothing is ever
dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import Reply
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from storage.repositories import OutboxRepository

log = logging.getLogger(__name__)

MIN_PASS_GAP_S = 0.05


class DeliveryDeferred(Exception):
    """The channel asked us to wait (HTTP 429 and the like); try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, reason: str = "rate limited") -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryFailed(Exception):
    """The message can never be delivered (the user blocked the bot, the address is gone)."""


class PushAdapter(Protocol):
    """What the notifier needs from a channel: deliver one single-message reply or raise."""

    name: str

    async def push(self, external_id: str, reply: Reply, kind: str) -> None: ...


@dataclass(frozen=True)
class ChannelRate:
    per_second: float
    per_chat_interval_s: float


def split_for_outbox(reply: Reply) -> list[Reply]:
    """One reply as single API messages: each photo, the map pin, then the text with its buttons."""
    parts = [Reply(text="", photos=[photo]) for photo in reply.photos]
    if reply.pin is not None:
        parts.append(Reply(text="", pin=reply.pin))
    if reply.text:
        parts.append(Reply(text=reply.text, choices=reply.choices, ask=reply.ask, ask_label=reply.ask_label))
    return parts


async def enqueue(session: AsyncSession, channel: str, external_id: str, reply: Reply, kind: str) -> None:
    """Queue a reply for an address inside the caller's transaction."""
    outbox = OutboxRepository(session)
    for part in split_for_outbox(reply):
        await outbox.enqueue(channel, external_id, part.to_dict(), kind)


class _Pacer:
    """Keeps calls within a channel's limits as the server counts them, whatever the network's jitter.

    A call reaches the server some time between its start and its completion here. So a new call
    starts only when fewer than `per_second` calls are in flight or completed within the last
    second, and when the chat's previous call completed `per_chat_interval_s` ago. Fixed time
    slots are not enough: two calls started a second apart can arrive closer together.
    """

    _POLL_S = 0.05  # the longest a call blocked only by calls in flight waits before looking again

    def __init__(self, rate: ChannelRate) -> None:
        self.rate = rate
        self.limit = max(1, int(rate.per_second))
        self._completed: deque[float] = deque()
        self._in_flight = 0
        self._chat_ready: dict[str, float] = {}
        self._all_ready = 0.0
        self._admission = asyncio.Lock()
        self._completion = asyncio.Event()  # set by each completion: a call waiting on calls in flight looks again

    def _global_delay(self, now: float) -> float:
        """Seconds until one more call fits in the channel-wide window (0: it fits now)."""
        while self._completed and now - self._completed[0] >= 1.0:
            self._completed.popleft()
        delay = max(0.0, self._all_ready - now)
        excess = self._in_flight + len(self._completed) - self.limit + 1
        if excess > 0:
            if excess <= len(self._completed):
                delay = max(delay, self._completed[excess - 1] + 1.0 - now)
            else:
                delay = max(delay, self._POLL_S)
        return delay

    async def wait(self, chat: str) -> None:
        """Block until a call to `chat` is within the limits, and count it as in flight."""
        chat_delay = self._chat_ready.get(chat, 0.0) - time.monotonic()
        if chat_delay > 0:
            await asyncio.sleep(chat_delay)
        # One call at a time, first come first served, waits for room in the window; the rest queue
        # on the lock rather than all waking at every completion.
        async with self._admission:
            while (delay := self._global_delay(time.monotonic())) > 0:
                self._completion.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._completion.wait(), delay)
            self._in_flight += 1

    def done(self, chat: str) -> None:
        """The call counted by `wait` has completed (whatever its outcome)."""
        now = time.monotonic()
        self._in_flight -= 1
        self._completed.append(now)
        self._completion.set()
        if self.rate.per_chat_interval_s > 0:
            self._chat_ready[chat] = max(self._chat_ready.get(chat, 0.0), now + self.rate.per_chat_interval_s)
        if len(self._chat_ready) > 4096:
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}

    def hold_chat(self, chat: str, seconds: float) -> None:
        self._chat_ready[chat] = max(self._chat_ready.get(chat, 0.0), time.monotonic() + seconds)

    def hold_all(self, seconds: float) -> None:
        self._all_ready = max(self._all_ready, time.monotonic() + seconds)


class Notifier:
    """Background worker that drains the outbox."""

    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, PushAdapter],
        rates: Mapping[str, ChannelRate],
        *,
        poll_interval_s: float = 1.0,
        max_attempts: int = 10,
        stale_after: timedelta = timedelta(minutes=2),
        batch: int = 200,
    ) -> None:
        self.db = db
        self.adapters = dict(adapters)
        self.pacers = {name: _Pacer(rate) for name, rate in rates.items()}
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.stale_after = stale_after
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._next_sweep = 0.0
        self.on_settled: Callable[[OutboxMessage, str], Awaitable[None]] | None = None

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Queue again what a run that died left claimed, then start delivering.

        One notifier serves a database, so every message still marked as being sent when it starts
        was claimed by a run that died (waiting for such claims to age would hold up that chat's
        later messages for as long). While running, claims older than `stale_after` are released too,
        in case another process shares the outbox and dies.
        """
        await self._release(utcnow())
        self._next_sweep = time.monotonic() + self.stale_after.total_seconds() / 2
        self._stopping = False
        self._task = asyncio.create_task(self._loop())

    async def _release(self, cutoff: datetime) -> None:
        async with self.db.transaction() as session:
            released = await OutboxRepository(session).release_claimed_before(cutoff)
        if released:
            log.warning("%d outbox messages claimed by an interrupted run are queued again", released)

    async def stop(self) -> None:
        """Stop claiming; let the calls already in flight finish and settle."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            began = time.monotonic()
            try:
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.stale_after.total_seconds() / 2
                    await self._release(utcnow() - self.stale_after)
                started = await self.run_once()
            except Exception:
                log.exception("notifier pass failed")
                started = 0
            if started == 0:
                self._wake.clear()
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            # Each pass reads the outbox's due messages; completions arriving close together share
            # one pass instead of paying a read each (every chat waits a second between its messages
            # anyway).
            await asyncio.sleep(max(0.0, MIN_PASS_GAP_S - (time.monotonic() - began)))
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def run_once(self) -> int:
        """Claim what is due and start delivering it; returns how many deliveries started."""
        async with self.db.reader() as session:
            due = await OutboxRepository(session).due(utcnow(), self.batch)
        candidates = [m for m in due if self._address(m) not in self._inflight and m.channel in self.adapters]
        if not candidates:
            return 0
        async with self.db.transaction() as session:
            outbox = OutboxRepository(session)
            claimed = [m for m in candidates if await outbox.claim(m.id)]
        for message in claimed:
            address = self._address(message)
            task = asyncio.create_task(self._deliver(message))
            self._inflight[address] = task
            task.add_done_callback(lambda _t, a=address: self._finished(a))
        return len(claimed)

    def _finished(self, address: str) -> None:
        self._inflight.pop(address, None)
        self._wake.set()

    @staticmethod
    def _address(message: OutboxMessage) -> str:
        return f"{message.channel}:{message.external_id}"

    async def _deliver(self, message: OutboxMessage) -> None:
        adapter = self.adapters[message.channel]
        pacer = self.pacers.get(message.channel)
        address = self._address(message)
        counted = False
        try:
            if pacer is not None:
                await pacer.wait(address)
                counted = True
            await adapter.push(message.external_id, Reply.from_dict(message.payload), message.kind)
        except DeliveryDeferred as exc:
            if pacer is not None:
                pacer.hold_chat(address, exc.retry_after)
                pacer.hold_all(min(exc.retry_after, 1.0))
            outcome, delay, error = "deferred", exc.retry_after, str(exc)
        except DeliveryFailed as exc:
            outcome, delay, error = "failed", 0.0, str(exc)
        except Exception as exc:
            attempt = message.attempts + 1  # the claim counted this attempt in the database
            log.warning("push on %s failed (attempt %d): %r", message.channel, attempt, exc)
            failed = attempt >= self.max_attempts
            outcome, delay, error = ("failed" if failed else "deferred"), min(300.0, 2.0**attempt), repr(exc)
        else:
            outcome, delay, error = "sent", 0.0, ""
        finally:
            if counted and pacer is not None:
                pacer.done(address)
        async with self.db.transaction() as session:
            outbox = OutboxRepository(session)
            if outcome == "sent":
                await outbox.mark_sent(message.id)
            elif outcome == "failed":
                await outbox.fail(message.id, error)
            else:
                await outbox.defer(message.id, utcnow() + timedelta(seconds=delay), error)
        if self.on_settled is not None:
            await self.on_settled(message, outcome)

