"""Where the bot's wall time goes during a benchmark run (bench/dialog.py --phases).

Wraps a few methods of the engine, the Telegram channel and the database handle for the duration of a
run, counts the calls into SQLite, and measures the CPU of the event-loop thread apart from
the others. Phases overlap (many updates are in flight at once), so totals are summed over concurrent
work.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psutil


class Phases:
    """Wall time per phase of the bot's work, by wrapping a few methods for the duration of a run."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.trips: dict[str, int] = defaultdict(int)
        self.cpu_share: tuple[float, float] | None = None
        self._clock: Any = None
        self._undo: list[Callable[[], None]] = []

    def add(self, name: str, seconds: float) -> None:
        self.totals[name] += seconds
        self.counts[name] += 1

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Time every call of an async method."""
        original = getattr(owner, attribute)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def wrap_context(self, owner: Any, attribute: str, name: str) -> None:
        """Time an async context manager: waiting to enter it, and the time inside (``name`` wait / held)."""
        original = getattr(owner, attribute)
        phases = self

        @asynccontextmanager
        async def timed(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            started = time.perf_counter()
            async with original(*args, **kwargs) as value:
                entered = time.perf_counter()
                phases.add(f"{name} wait", entered - started)
                try:
                    yield value
                finally:
                    phases.add(f"{name} held", time.perf_counter() - entered)

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def count_trips(self) -> None:
        """Count the calls into SQLite (statements, commits, rollbacks; run inline on the loop), by kind."""
        from storage.db import _InlineConnection

        original = _InlineConnection._execute
        phases = self

        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            name = getattr(fn, "__name__", "call")
            phases.trips["statement" if name == "_run_statement" else name] += 1
            started = time.perf_counter()
            try:
                return await original(connection, fn, *args, **kwargs)
            finally:
                phases.add("SQLite call (inline, on the loop)", time.perf_counter() - started)

        _InlineConnection._execute = counted  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(_InlineConnection, "_execute", original))

    def install(self) -> None:
        from bot.channels.telegram import TelegramChannel
        from bot.engine import DialogEngine
        from storage.db import Database

        self.wrap(DialogEngine, "handle", "engine.handle (all)")
        self.wrap(DialogEngine, "_run", "engine._run (one write transaction)")
        self.wrap(DialogEngine, "_intake", "engine._intake (photo download + store)")
        self.wrap(TelegramChannel, "send", "channel.send (the reply's API calls)")
        self.wrap_context(Database, "transaction", "db.transaction")
        self.wrap_context(Database, "reader", "db.reader")
        self.count_trips()

    def start_clock(self) -> None:
        """Note the CPU time of the event loop's thread and of all others (aiosqlite's, photo work) so far."""
        self._clock = (self._thread_times(), time.perf_counter())

    def stop_clock(self) -> None:
        (main0, others0), wall0 = self._clock
        main, others = self._thread_times()
        wall = time.perf_counter() - wall0
        self.cpu_share = ((main - main0) / wall, (others - others0) / wall)

    @staticmethod
    def _thread_times() -> tuple[float, float]:
        import threading

        main_id = threading.main_thread().native_id
        main = others = 0.0
        for thread in psutil.Process().threads():
            if thread.id == main_id:
                main += thread.user_time + thread.system_time
            else:
                others += thread.user_time + thread.system_time
        return main, others

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def print(self, updates: int) -> None:
        print(f"    {'phase':<44} {'calls':>7} {'total s':>8} {'ms/call':>8} {'ms/update':>9}")
        for name in sorted(self.totals, key=lambda n: -self.totals[n]):
            total, calls = self.totals[name], self.counts[name]
            per_call, per_update = 1000 * total / calls, 1000 * total / updates
            print(f"    {name:<44} {calls:>7} {total:>8.2f} {per_call:>8.2f} {per_update:>9.2f}")
        trips = ", ".join(f"{name} {n / updates:.1f}" for name, n in sorted(self.trips.items(), key=lambda i: -i[1]))
        if self.cpu_share is not None:
            main, others = self.cpu_share
            print(f"    CPU used: event-loop thread {main:.0%} of a core, other threads {others:.0%}")
        if self.trips:
            print(f"    calls into SQLite per update: {sum(self.trips.values()) / updates:.1f} ({trips})")
