"""Long polling that keeps each fetched update in the database until the bot has handled it.

python-telegram-bot's Updater asks for the next batch with offset = last id + 1 as soon as it has
fetched a batch, which tells Telegram to forget every update before it, handled or not: a crash then
loses the updates in progress (a photo being downloaded, an officer's outcome not yet committed).
Here a batch is written to the inbox (storage/repositories/inbox.py) before the next getUpdates
confirms it, and each update's row is deleted once it has been handled. At start-up the updates an
earlier run left in the inbox are handled first, in order; the engine's processed-updates record
drops any that had already committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from storage.db import Database
from storage.repositories import InboxRepository

log = logging.getLogger(__name__)

CHANNEL = "telegram"
FORGET_EVERY_S = 1.0


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class InboxPoller:
    """Fetches updates, keeps them in the inbox, hands each to `handle` once, forgets it when handled."""

    def __init__(
        self,
        bot: Any,
        db: Database,
        handle: Callable[[Update], Awaitable[None]],
        *,
        timeout_s: int,
        allowed_updates: Sequence[str],
        max_in_flight: int = 1000,
    ) -> None:
        self.bot = bot
        self.db = db
        self.handle = handle
        self.timeout_s = timeout_s
        self.allowed_updates = list(allowed_updates)
        self.max_in_flight = max_in_flight
        self._next = 0  # the offset that confirms every update fetched so far
        self._in_flight: set[int] = set()
        self._finished: list[int] = []
        self._forget_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Hand over what an earlier run left unfinished, then start polling."""
        async with self.db.reader() as session:
            pending = await InboxRepository(session).pending(CHANNEL)
        if pending:
            log.info("%d Telegram updates fetched before a restart are handled now", len(pending))
        for update_id, payload in pending:
            try:
                update = Update.de_json(payload, self.bot)
            except Exception:
                log.exception("an update kept in the inbox cannot be read; dropped")
                self._finished.append(update_id)
                continue
            self._start(update)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop fetching, let the updates in progress finish, forget them and confirm them to Telegram."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._forget_finished(now=True)
        if self._next:
            with contextlib.suppress(TelegramError):
                await self.bot.get_updates(offset=self._next, timeout=0, limit=1, allowed_updates=self.allowed_updates)

    async def _loop(self) -> None:
        failures = 0
        while True:
            await self._forget_finished()
            if len(self._in_flight) >= self.max_in_flight:
                await self._wait_for_progress(1.0)
                continue
            try:
                updates = await self.bot.get_updates(
                    offset=self._next or None, timeout=self.timeout_s, allowed_updates=self.allowed_updates
                )
                await self._keep(updates)
                failures = 0
            except TimedOut:
                continue
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
            except (InvalidToken, Forbidden):
                log.critical("Telegram refused the bot token; polling stopped")
                return
            except Conflict as exc:
                log.error("another getUpdates or a webhook holds this bot: %s", exc)
                await asyncio.sleep(5)
            except (NetworkError, OSError) as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); trying again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
            except Exception:
                # The inbox could not be written (the database is busy or gone): the batch is not
                # confirmed, so Telegram hands it out again.
                failures += 1
                log.exception("could not keep fetched updates; fetching them again")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    async def _keep(self, updates: Sequence[Update]) -> None:
        """Write the batch to the inbox, then start the updates it did not hold yet, in Telegram's order."""
        if not updates:
            return
        async with self.db.transaction() as session:
            new = await InboxRepository(session).keep(CHANNEL, [(u.update_id, u.to_dict()) for u in updates])
        self._next = max(self._next, max(u.update_id for u in updates) + 1)
        for update in updates:
            if update.update_id in new:
                self._start(update)

    def _start(self, update: Update) -> None:
        # Tasks start in creation order and `handle` queues the update before its first await, so
        # one user's updates reach the engine in Telegram's order.
        self._in_flight.add(update.update_id)
        task = asyncio.create_task(self._run(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, update: Update) -> None:
        try:
            await self.handle(update)
        except Exception:
            log.exception("a Telegram update failed")
        finally:
            self._in_flight.discard(update.update_id)
            self._finished.append(update.update_id)
            self._progress.set()

    async def _forget_finished(self, *, now: bool = False) -> None:
        """Delete the handled updates' inbox rows in one transaction, at most about once a second.

        A row that outlives its update costs nothing: after a crash it is replayed, and the engine
        drops it as a duplicate.
        """
        if not self._finished or not (now or len(self._finished) >= 200 or time.monotonic() >= self._forget_at):
            return
        done, self._finished = self._finished, []
        self._forget_at = time.monotonic() + FORGET_EVERY_S
        try:
            async with self.db.transaction() as session:
                await InboxRepository(session).remove(CHANNEL, done)
        except Exception:
            log.warning("could not clear handled updates from the inbox; trying again later", exc_info=True)
            self._finished.extend(done)

    async def _wait_for_progress(self, timeout_s: float) -> None:
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout_s)
