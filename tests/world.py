"""The test world: a runtime on a fresh SQLite database with a few consumers, and chat fixtures (a pytest plugin)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Runtime, build_runtime
from bot.config import Settings, load_settings
from storage.db import Database
from storage.models import Consumer
from storage.repositories import ConsumerRepository, OutboxRepository
from tests.conversation import Chat, MemoryAdapter

# A small register around Jabalpur's Wright Town (23.1685 N, 79.9338 E).
CONSUMERS = [
    ("N3330008565", "H.No 12, Wright Town, Jabalpur", "LV-1", 2.0, 23.16850, 79.93380),
    ("N3330008566", "Shop 4, Russell Chowk, Jabalpur", "LV-2", 5.0, 23.16900, 79.93420),
    ("N3330008567", "Plot 9, Napier Town, Jabalpur", "LV-1", 1.0, 23.17100, 79.93600),
    ("N3330008568", "Mill Road, Jabalpur", "LV-4", 25.0, 23.17500, 79.93900),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(environ={})
    fast = settings.notifier.model_copy(
        update={"telegram_per_chat_interval": timedelta(0), "poll_every": timedelta(seconds=0.05)}
    )
    # Most transcripts file several complaints in a row; the limits have their own tests.
    lenient = settings.abuse.model_copy(
        update={"min_gap_between_complaints": timedelta(0), "max_complaints_per_day": 100}
    )
    return settings.model_copy(update={"data_dir": tmp_path / "data", "notifier": fast, "abuse": lenient})


async def seed_consumers(db: Database, consumers: list[tuple[str, str, str, float, float, float]] = CONSUMERS) -> None:
    """Put the small Jabalpur register (or another list of the same shape) into the database."""
    async with db.transaction() as session:
        repo = ConsumerRepository(session)
        for ivrs, address, category, load, lat, lon in consumers:
            await repo.add(
                Consumer(
                    ivrs=ivrs,
                    name="Private Name",
                    address=address,
                    district="Jabalpur",
                    category=category,
                    sanctioned_load_kw=load,
                    latitude=lat,
                    longitude=lon,
                )
            )


@pytest.fixture
async def runtime(settings: Settings, sqlite_db: Database) -> AsyncIterator[Runtime]:
    await seed_consumers(sqlite_db)
    runtime = await build_runtime(settings, sqlite_db)
    yield runtime
    await runtime.engine.drain()
    await runtime.notifier.stop()


@pytest.fixture
async def adapter(runtime: Runtime) -> MemoryAdapter:
    """The in-memory channel; the runtime's notifier delivers pushes to it too."""
    memory = MemoryAdapter()
    runtime.notifier.adapters[memory.name] = memory
    await runtime.notifier.start()
    return memory


async def settle(runtime: Runtime, within_s: float = 10) -> None:
    """Wait until the notifier has delivered everything queued so far."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        async with runtime.db.reader() as session:
            counts = await OutboxRepository(session).counts()
        if not counts.get("pending") and not counts.get("sending"):
            return
        runtime.notifier.wake()
        await asyncio.sleep(0.02)
    raise AssertionError(f"pushes still queued: {counts}")


@pytest.fixture
def new_chat(runtime: Runtime, adapter: MemoryAdapter) -> Callable[..., Chat]:
    def make(user_id: str = "1001", language: str = "en") -> Chat:
        return Chat(runtime.engine, adapter, user_id=user_id, language=language)

    return make


@pytest.fixture
def chat(new_chat: Callable[..., Chat]) -> Chat:
    return new_chat()


async def register(chat: Chat, phone: str = "+919876543210", language: str = "English") -> None:
    """Walks a new user through registration."""
    await chat.send("/start")
    await chat.press(language)
    await chat.press("agree" if language == "English" else "सहमत")
    await chat.share_contact(phone)
