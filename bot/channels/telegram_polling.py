"""Long polling that keeps each fetched update in the database until the bot has handled it.

python-telegram-bot's Updater asks for the next batch with offset = last id + 1 as soon as it has
fetched a batch, which tells Telegram to forget every update before it, handled or not: a crash then
loses the updates in progress (a photo being downloaded, an officer's outcome not yet committed).
Here a batch is written to the inbox (storage/repositories/inbox.py) before the next getUpdates
confirms it, and each update's row is deleted once it has been handled. At start-up the updates an
earlier run left in the inbox are handled first, in order; the engine's processed-updates record
drops any that had already committed. getUpdates is called for its raw JSON: the inbox keeps
Telegram's own text, and an update of a shape the bot cannot read is logged and skipped alone
instead of failing (and, unconfirmed, blocking) its whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.channels.telegram_request import AiohttpRequest
from storage.db import Database
from storage.repositories import InboxRepository

log = logging.getLogger(__name__)

CHANNEL = "telegram"
FORGET_EVERY_S = 1.0
READ_MARGIN_S = 10.0  # how much longer than the long poll's timeout an answer may take


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _update_id(item: Any) -> int | None:
    """An update's id, or None for an item that is not an update at all."""
    if isinstance(item, dict) and isinstance(item.get("update_id"), int) and not isinstance(item["update_id"], bool):
        return int(item["update_id"])
    return None


class InboxPoller:
    """Fetches updates, keeps them in the inbox, hands each to `handle` once, forgets it when handled."""

    def __init__(
        self,
        bot: Any,
        request: AiohttpRequest,
        db: Database,
        handle: Callable[[Update], Awaitable[None]],
        *,
        timeout_s: int,
        allowed_updates: Sequence[str],
        max_in_flight: int = 1000,
    ) -> None:
        self.bot = bot
        self.request = request
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
            self._start(update_id, payload)
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
                await self._keep(await self._fetch())
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

    async def _fetch(self) -> list[dict[str, Any]]:
        """One getUpdates call; the updates as Telegram sent them. Errors are PTB's, as Bot.get_updates raises them."""
        payload: dict[str, Any] = {"timeout": self.timeout_s, "allowed_updates": self.allowed_updates}
        if self._next:
            payload["offset"] = self._next
        status, body = await self.request.post_json(
            f"{self.bot.base_url}/getUpdates", payload, read_timeout=self.timeout_s + READ_MARGIN_S
        )
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise NetworkError(f"getUpdates answered {status} with no JSON") from exc
        if isinstance(answer, dict) and answer.get("ok") is True and isinstance(answer.get("result"), list):
            return [item for item in answer["result"] if _update_id(item) is not None]
        answer = answer if isinstance(answer, dict) else {}
        code, description = answer.get("error_code", status), str(answer.get("description", ""))
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        if retry_after is not None:
            raise RetryAfter(int(retry_after))
        if code == 409:
            raise Conflict(description)
        if code in (401, 404):
            raise InvalidToken(description)
        raise NetworkError(f"getUpdates answered {code}: {description}")

    async def _keep(self, updates: list[dict[str, Any]]) -> None:
        """Write the batch to the inbox, then start the updates it did not hold yet, in Telegram's order."""
        if not updates:
            return
        batch = [(int(item["update_id"]), item) for item in updates]
        async with self.db.transaction() as session:
            new = await InboxRepository(session).keep(CHANNEL, batch)
        self._next = max(self._next, max(update_id for update_id, _ in batch) + 1)
        for update_id, item in batch:
            if update_id in new:
                self._start(update_id, item)

    def _start(self, update_id: int, payload: dict[str, Any]) -> None:
        """Read the update and hand it over; one the bot cannot read is logged and finished at once."""
        try:
            update = Update.de_json(payload, self.bot)
        except Exception:
            log.warning("Telegram update %s has a shape the bot cannot read; skipped", update_id, exc_info=True)
            update = None
        if update is None:
            self._finished.append(update_id)
            return
        # Tasks start in creation order and `handle` queues the update before its first await, so
        # one user's updates reach the engine in Telegram's order.
        self._in_flight.add(update_id)
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
