"""The database handle: engine, sessions, SQLite pragmas and migrations applied at start-up."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


WRITER_BUSY_TIMEOUT_MS = 20
READER_BUSY_TIMEOUT_MS = 5000
LOCKED_RETRY_FOR_S = 30.0


def _sqlite_pragmas(busy_timeout_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer. The busy timeout is how long SQLite itself waits
    # for a lock that another process holds; it blocks the event loop, so writers keep it short
    # and wait longer asynchronously (Database.transaction).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.close()


def _is_locked(exc: BaseException) -> bool:
    """Whether SQLite said another connection holds the lock (worth waiting for, not a failure)."""
    return "database is locked" in str(exc) or "database is busy" in str(exc)


def _run_statement(
    connection: aiosqlite.Connection, many: bool, sql: str, parameters: Any
) -> tuple[Any, int, int | None, list[Any]]:
    """Execute, fetch every row, close; returns description, rowcount, lastrowid, rows."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _InlineCursor:
    """The aiosqlite-shaped cursor SQLAlchemy drives, running each statement at once, rows and all.

    aiosqlite's own cursor makes a trip to its thread to open, one to execute, one to fetch and one
    to close; each trip is a thread hand-off plus an event-loop wake-up, and on a busy loop it waits
    its turn behind every other task. With 100 Telegram users filing reports that made a write
    transaction hold SQLite's one write lock for 33 ms, of which under 2 ms was SQLite's own work.
    Rows are fetched with the statement (as SQLAlchemy's adapter does anyway).
    """

    arraysize = 1

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque[Any] = deque()

    def __await__(self) -> Generator[Any, None, _InlineCursor]:
        return self.__aenter__().__await__()

    async def __aenter__(self) -> _InlineCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, many: bool, sql: str, parameters: Any) -> _InlineCursor:
        result = await self._connection._execute(_run_statement, self._connection, many, sql, parameters)
        self.description, self.rowcount, self.lastrowid, rows = result
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Any = None) -> _InlineCursor:
        return await self._run(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Any) -> _InlineCursor:
        return await self._run(True, sql, parameters)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = min(self.arraysize if size is None else size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection with every call run at once on the caller's thread (the event loop's).

    A statement on a local SQLite file takes microseconds, less than the thread hand-off aiosqlite
    makes for it; run inline, a whole transaction (BEGIN .. COMMIT) runs without yielding to the
    event loop, so the write lock is held for the transaction's own work only. aiosqlite's thread
    still opens and closes the connection. Relies on aiosqlite 0.22's private _execute/_conn.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def cursor(self) -> _InlineCursor:  # type: ignore[override]
        return _InlineCursor(self)


def _connect_sqlite(database: str, **kwargs: Any) -> _InlineConnection:
    """What aiosqlite.connect does, inline; SQLAlchemy awaits it to open the connection."""
    kwargs["check_same_thread"] = False  # opened on aiosqlite's thread, used on the loop's
    connection = _InlineConnection(partial(sqlite3.connect, database, **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite adapter sets it
    return connection


def _sqlite_begin_immediate(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads, then writes
    # after another writer committed would fail with SQLITE_BUSY instead of waiting.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


class Database:
    """One engine and its session factory; the only way the rest of the code reaches the data."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, connect_args: dict[str, Any] | None = None
    ) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "connect_args": connect_args or {}}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"async_creator_fn": _connect_sqlite, **kwargs["connect_args"]}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # Read-only work goes through its own engine on SQLite so it never queues for the write lock.
        self.read_engine: AsyncEngine = self.engine
        if self.dialect == "sqlite":
            self.read_engine = create_async_engine(url, **kwargs)
            for engine, begin, timeout_ms in (
                (self.engine, _sqlite_begin_immediate, WRITER_BUSY_TIMEOUT_MS),
                (self.read_engine, _sqlite_begin_deferred, READER_BUSY_TIMEOUT_MS),
            ):
                event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, timeout_ms))
                event.listen(engine.sync_engine, "begin", begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue here, first come first
        # served, instead of in SQLite's busy handler, which polls the lock with sleeps of up to
        # 100 ms (and lets a late-comer overtake): measured with 10 Telegram users filing reports,
        # a write transaction took 320 ms on average this way, 2 ms once queued here.
        self._writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] | None = (
            weakref.WeakKeyDictionary() if self.dialect == "sqlite" else None
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error.

        On SQLite the transactions of this process run one at a time (see ``_writer_lock``): do not
        open a second one while holding the first.
        """
        if self._writer_locks is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        # The lock covers BEGIN IMMEDIATE .. COMMIT; the session returns its connection after that.
        async with self._writer_lock():
            session = await self._begin_immediate()
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                await session.close()

    async def _begin_immediate(self) -> AsyncSession:
        """A session holding SQLite's write lock, waiting without blocking the loop while another process has it."""
        deadline = time.monotonic() + LOCKED_RETRY_FOR_S
        pause = 0.005
        while True:
            session = self.sessions()
            try:
                await session.connection()  # runs BEGIN IMMEDIATE (the "begin" event)
                return session
            except OperationalError as exc:
                await session.close()
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _writer_lock(self) -> asyncio.Lock:
        """This event loop's SQLite writer lock (a Database may outlive one ``asyncio.run``)."""
        assert self._writer_locks is not None
        loop = asyncio.get_running_loop()
        lock = self._writer_locks.get(loop)
        if lock is None:
            lock = self._writer_locks[loop] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (never commits); on SQLite it does not take the write lock."""
        async with self.read_sessions() as session:
            yield session  # closing the session rolls its read transaction back

    async def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to the given revision (waiting while another process writes)."""
        deadline = time.monotonic() + LOCKED_RETRY_FOR_S
        while True:
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(_run_upgrade, revision)
                return
            except OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at our migrations, optionally bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _run_upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
