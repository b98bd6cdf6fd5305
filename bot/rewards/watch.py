"""RewardWatch: wakes reward payments up; the database decides what is paid, and only once.

APScheduler (AsyncIOScheduler) holds one date job per scheduled reward, at its due time, plus a
periodic sweep. A timer lost in a crash, a missed fire or a reward scheduled by another process
is found by the next sweep; the sweep also resumes payments left unfinished (see payments.py).
Two watches (two processes) may sweep the same rows at once: each step is a guarded UPDATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.rewards import lifecycle
from bot.rewards.crypto import BankKeyMissing, bank_cipher
from bot.rewards.payments import Payments
from bot.rewards.payouts.base import PayoutProvider
from storage.db import Database
from storage.models import utcnow
from storage.repositories import RewardRepository

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


@dataclass
class SweepResult:
    matured: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        """How many payments ended with this outcome."""
        return self.outcomes.get(outcome, 0)


class RewardWatch:
    """Schedules and sweeps reward payments for one process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: PayoutProvider,
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.provider = provider
        self.payments = Payments(db, settings, provider, on_committed=on_committed)
        self.scheduler: AsyncIOScheduler | None = None
        self._slots = asyncio.Semaphore(settings.rewards.concurrency)
        self._last_scheduled_id = 0
        self._seen_generation = lifecycle.generation()
        self._key_warned = False
        self._running: set[asyncio.Task[object]] = set()
        self._poking: asyncio.Task[None] | None = None
        self._poke_again = False

    async def start(self) -> None:
        """Start the periodic sweep (at once) and a date job for every scheduled reward."""
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.settings.rewards.sweep_every.total_seconds(),
            id="rewards-sweep",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        await self.schedule_new()

    async def stop(self) -> None:
        """Start nothing new and let payments in flight finish (shutting APScheduler down cancels its jobs)."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
            scheduler, self.scheduler = self.scheduler, None  # no more pokes either
            if self._running:
                await asyncio.wait(set(self._running), timeout=self.settings.rewards.resume_after.total_seconds())
            scheduler.shutdown(wait=False)
        self.scheduler = None

    async def close(self) -> None:
        """Stop the timers and release the provider's connections."""
        await self.stop()
        await self.provider.close()

    def poke(self) -> None:
        """After a commit: if a reward was scheduled or became payable in this process, look now."""
        current = lifecycle.generation()
        if current == self._seen_generation or self.scheduler is None:
            return
        self._seen_generation = current
        if self._poking is not None and not self._poking.done():
            self._poke_again = True  # the sweep under way may have missed it: one more after it
            return
        self._poking = asyncio.get_running_loop().create_task(self._poked())

    async def _poked(self) -> None:
        self._poke_again = True
        while self._poke_again and self.scheduler is not None:
            self._poke_again = False
            await self._tick()

    async def schedule_new(self) -> int:
        """Add a date job for each scheduled reward not yet known to this watch."""
        async with self.db.reader() as session:
            rows = await RewardRepository(session).scheduled_after(self._last_scheduled_id)
        if self.scheduler is None:
            return 0
        for reward_id, due_at in rows:
            self.scheduler.add_job(
                self._due,
                "date",
                run_date=due_at,
                args=[reward_id],
                id=f"reward-{reward_id}",
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
            )
            self._last_scheduled_id = max(self._last_scheduled_id, reward_id)
        return len(rows)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _due(self, reward_id: int) -> None:
        """The date job: the appeal window of one reward has passed; pay it unless it is held or taken."""
        self._track()
        await self._guarded(self.payments.pay, reward_id)

    async def _tick(self) -> None:
        self._track()
        try:
            await self.schedule_new()  # rewards scheduled by another process get their timers too
            await self.sweep()
        except Exception:
            log.exception("reward sweep failed")

    async def sweep(self, now: datetime | None = None) -> SweepResult:
        """Make due every reward past its appeal window, pay every due one, resume every stalled payment."""
        now = now or utcnow()
        result = SweepResult()
        try:
            bank_cipher(self.settings)
        except BankKeyMissing as exc:
            if not self._key_warned:
                log.error("rewards are not paid: %s", exc)
                self._key_warned = True
            return result
        async with self.db.transaction() as session:
            result.matured = await RewardRepository(session).mature(now)
        async with self.db.reader() as session:
            rewards = RewardRepository(session)
            due = await rewards.ids_in_state("due", SWEEP_BATCH)
            stalled = await rewards.resumable_ids(now, SWEEP_BATCH)
        jobs = [self._guarded(self.payments.pay, i) for i in due]
        jobs += [self._guarded(self.payments.resume, i) for i in stalled]
        for outcome in await asyncio.gather(*jobs):
            if outcome is not None:
                result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        return result

    async def _guarded(self, step: Callable[[int], Awaitable[str | None]], reward_id: int) -> str | None:
        async with self._slots:
            try:
                return await step(reward_id)
            except Exception:
                log.exception("reward %s: payment step failed; it will be tried again", reward_id)
                return "error"
