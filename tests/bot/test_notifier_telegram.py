"""The notifier on Telegram under flood control: 1,000 pushes to 300 chats, a restart half-way, none lost or doubled.

The fake Bot API answers 429 (with retry_after) beyond 30 messages a second overall or one a second
per chat, as Telegram does. The notifier runs with the default pacing from config.yaml (29/s, one
second per chat) through the real TelegramChannel and python-telegram-bot. It is stopped after
about a third has gone out, and a new notifier (with a new channel, as after a restart) drains the
rest from the same SQLite outbox.

About 35 s by design (1,000 messages at 29/s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import handlers
from bot.app import notifier_for, photo_store_for
from bot.channels.telegram import TelegramChannel
from bot.config import Settings, load_settings
from bot.engine import DialogEngine
from bot.events import Reply
from bot.notifier import Notifier, enqueue
from storage.db import Database
from storage.repositories import OutboxRepository
from tests.fakes.bot_api import FakeBotApi

TOKEN = "123456:NOTIFY-TOKEN"
CHATS = 300
MESSAGES = 1_000
FIRST_CHAT = 70_000
FLOOD_GLOBAL, FLOOD_PER_CHAT = 30, 1
# Deadlines only: on a loaded machine everything may take longer than the ~35 s the pacing needs.
FIRST_THIRD_WITHIN_S = 120
DRAIN_WITHIN_S = 300


def chat_of(n: int) -> int:
    """Message n goes to chat n mod 300, so each chat gets three or four messages, in order."""
    return FIRST_CHAT + n % CHATS


def default_settings(tmp_path: Path) -> Settings:
    """config.yaml's settings as deployed (no environment overrides), with the data under tmp_path."""
    return load_settings(environ={}).model_copy(update={"data_dir": tmp_path / "data"})


@asynccontextmanager
async def telegram_notifier(settings: Settings, db: Database, api: FakeBotApi) -> AsyncIterator[Notifier]:
    """A notifier (paced as configured) delivering through a fresh TelegramChannel; initialised, not polling."""
    engine = DialogEngine(db, settings, photo_store_for(settings), handlers.route)
    channel = TelegramChannel(engine, TOKEN, base_url=api.base_url, base_file_url=api.base_file_url)
    await channel.bot.initialize()
    notifier = notifier_for(settings, db)
    notifier.adapters[channel.name] = channel
    try:
        yield notifier
    finally:
        await notifier.stop()
        await channel.bot.shutdown()


def delivered(api: FakeBotApi) -> int:
    """sendMessage calls the fake accepted (each recorded a message)."""
    return sum(1 for call in api.calls_of("sendMessage") if call.error is None)


def flood_answers(api: FakeBotApi) -> int:
    """sendMessage calls the fake answered with 429."""
    return sum(1 for call in api.calls_of("sendMessage") if call.error and "Too Many Requests" in call.error)


async def outbox_counts(db: Database) -> dict[str, int]:
    async with db.reader() as session:
        return await OutboxRepository(session).counts()


async def wait_until(condition: Callable[[], object], within_s: float, what: str) -> None:
    """Poll an (a)synchronous condition until it holds; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within_s} s: {what}")


@pytest.mark.slow
async def test_a_thousand_pushes_survive_flood_control_and_a_restart(sqlite_db: Database, tmp_path: Path) -> None:
    settings = default_settings(tmp_path)
    async with FakeBotApi(TOKEN, flood_limit_global_per_s=FLOOD_GLOBAL,
                          flood_limit_per_chat_per_s=FLOOD_PER_CHAT) as api:
        for chat in range(FIRST_CHAT, FIRST_CHAT + CHATS):
            api.add_user({"id": chat, "is_bot": False, "first_name": f"Citizen {chat}", "language_code": "en"})
        expected: dict[int, list[str]] = {chat: [] for chat in range(FIRST_CHAT, FIRST_CHAT + CHATS)}
        async with sqlite_db.transaction() as session:
            for n in range(MESSAGES):
                await enqueue(session, "telegram", str(chat_of(n)), Reply(text=f"n{n}"), "status_update")
                expected[chat_of(n)].append(f"n{n}")

        async with telegram_notifier(settings, sqlite_db, api) as first:
            await first.start()
            await wait_until(lambda: delivered(api) >= MESSAGES // 3, FIRST_THIRD_WITHIN_S, "a third delivered")
        # Stopped: whatever it had claimed went out and was settled; nothing is left half-sent.
        before_restart = delivered(api)
        counts = await outbox_counts(sqlite_db)
        assert counts.get("sending", 0) == 0, counts
        assert MESSAGES // 3 <= before_restart < MESSAGES, f"{before_restart} delivered before the restart"

        async with telegram_notifier(settings, sqlite_db, api) as second:
            await second.start()

            async def drained() -> bool:
                counts = await outbox_counts(sqlite_db)
                return not counts.get("pending") and not counts.get("sending")

            await wait_until(drained, DRAIN_WITHIN_S, f"the outbox drained (now {await outbox_counts(sqlite_db)})")

        floods = flood_answers(api)
        print(f"\n{before_restart} delivered before the restart, {delivered(api) - before_restart} after; "
              f"the fake answered {floods} x 429")
        # Every message exactly once, in order per chat, none failed; any 429 was waited out and retried.
        received = {chat: [event.text for event in api.sent(chat)] for chat in expected}
        wrong = {chat: (received[chat], texts) for chat, texts in expected.items() if received[chat] != texts}
        assert not wrong, f"{len(wrong)} chats differ (got, expected), e.g. {list(wrong.items())[:3]}"
        assert delivered(api) == MESSAGES
        assert await outbox_counts(sqlite_db) == {"sent": MESSAGES}
