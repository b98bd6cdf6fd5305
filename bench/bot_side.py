"""The bot's side of the Telegram benchmarks: the real runtime on a fresh SQLite file, and its Telegram channel.

Built as bot/cli/serve.py builds it (build_runtime from config.yaml's settings, the TelegramChannel
registered with the runtime's notifier), except that the database and the photos live in a temporary
directory and the Bot API is the fake's.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.app import Runtime, build_runtime  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Consumer  # noqa: E402
from storage.repositories import ConsumerRepository  # noqa: E402
from tests.world import CONSUMERS  # noqa: E402


def bench_settings(workdir: Path) -> Settings:
    """config.yaml's settings (no environment overrides) with the database and photos under ``workdir``."""
    settings = load_settings(environ={})
    database = settings.database.model_copy(update={"url": f"sqlite+aiosqlite:///{workdir / 'vmitra.db'}"})
    return settings.model_copy(update={"data_dir": workdir / "data", "database": database})


def consumer_ivrs(n: int) -> str:
    """The IVRS of the n-th consumer of the benchmark register (the 0th is the tests' N3330008565)."""
    return CONSUMERS[0][0] if n == 0 else f"N{3331000000 + n}"


def bench_consumers(count: int) -> list[tuple[str, str, str, float, float, float]]:
    """The tests' small Jabalpur register plus consumers 1..count-1 of consumer_ivrs, about 110 m apart."""
    extra = [(consumer_ivrs(n), f"House {n}, Bench Colony, Jabalpur", "LV-1", 2.0,
              23.100 + 0.001 * (n // 40), 79.900 + 0.001 * (n % 40)) for n in range(1, count)]
    return CONSUMERS + extra


async def bench_runtime(workdir: Path, *, consumers: int = 1, postgres_url: str | None = None) -> Runtime:
    """A runtime on a fresh database with ``consumers`` distinct consumers to report.

    SQLite: a file in ``workdir``. PostgreSQL (``postgres_url``): a private schema, dropped by close_runtime.
    """
    settings = bench_settings(workdir)
    if postgres_url is None:
        runtime = await build_runtime(settings)
    else:
        db, schema = await make_database_on(postgres_url)
        runtime = await build_runtime(settings, db)
        runtime.db.bench_schema = schema  # type: ignore[attr-defined]
    async with runtime.db.transaction() as session:
        repo = ConsumerRepository(session)
        for ivrs, address, category, load, lat, lon in bench_consumers(consumers):
            await repo.add(Consumer(ivrs=ivrs, name="Private Name", address=address, district="Jabalpur",
                                    category=category, sanctioned_load_kw=load, latitude=lat, longitude=lon))
    return runtime


async def make_database_on(postgres_url: str) -> tuple[Database, str]:
    """A migrated database in a fresh PostgreSQL schema (as the tests' conftest makes one)."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = Database(postgres_url)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    await admin.dispose()
    db = Database(postgres_url, connect_args={"server_settings": {"search_path": schema}})
    await db.upgrade()
    return db, schema


async def close_runtime(runtime: Runtime) -> None:
    """Close the runtime; a PostgreSQL schema made by bench_runtime is dropped."""
    schema = getattr(runtime.db, "bench_schema", None)
    await runtime.close()
    if schema is not None:
        admin = Database(runtime.db.url)
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


def telegram_channel(runtime: Runtime, token: str, fake: dict[str, str], poll_timeout_s: int = 10) -> TelegramChannel:
    """The bot's Telegram channel on the fake (pool size from the settings), registered with the notifier."""
    channel = TelegramChannel(runtime.engine, token, base_url=fake["base_url"], base_file_url=fake["base_file_url"],
                              pool_size=runtime.settings.telegram.connection_pool_size, poll_timeout_s=poll_timeout_s)
    runtime.notifier.adapters[channel.name] = channel
    return channel


async def control_get(control_url: str, path: str, **params: Any) -> Any:
    """GET one control-API resource of the fake (stats, calls, events) as JSON."""
    async with aiohttp.ClientSession() as session, session.get(f"{control_url}/{path}", params=params) as response:
        response.raise_for_status()
        return await response.json()


def load_average() -> float:
    """The 1-minute load average (the machine is shared; tables print it)."""
    return os.getloadavg()[0]
