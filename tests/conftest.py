"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database

pytest_plugins = ["tests.world"]

POSTGRES_URL = os.environ.get("VMITRA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, str | None] = {}


def postgres_unavailable_reason() -> str | None:
    """None when the test PostgreSQL answers; otherwise why not (memoised for the session)."""
    if "reason" not in _pg_state:
        url = make_url(POSTGRES_URL)
        try:
            with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=3):
                _pg_state["reason"] = None
        except OSError as exc:
            _pg_state["reason"] = f"PostgreSQL at {url.host}:{url.port} is not reachable: {exc}"
    return _pg_state["reason"]


def require_postgres() -> None:
    """Skip when PostgreSQL is down, except in CI where it must run."""
    reason = postgres_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the PostgreSQL tests must run)")
    pytest.skip(reason)


async def make_database(backend: str, tmp_path: Path) -> tuple[Database, str | None]:
    """A migrated database on the backend; PostgreSQL gets a private schema per test."""
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await db.upgrade()
        return db, None
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = Database(POSTGRES_URL)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    await admin.dispose()
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    await db.upgrade()
    return db, schema


async def drop_database(db: Database, schema: str | None) -> None:
    await db.dispose()
    if schema is not None:
        admin = Database(POSTGRES_URL)
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    database, schema = await make_database(backend, tmp_path)
    try:
        yield database
    finally:
        await drop_database(database, schema)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh migrated SQLite database, for tests that are not about the backend."""
    database, _ = await make_database("sqlite", tmp_path)
    try:
        yield database
    finally:
        await database.dispose()
