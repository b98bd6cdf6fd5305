"""SLA: reminders to the officer, then escalation to the supervisor; once each, found again after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from bot.app import Runtime
from bot.config import Settings
from bot.sla import SlaWatch
from storage.models import Assignment
from tests.conversation import Chat, MemoryAdapter
from tests.handlers.test_officer import add_officer, file_complaint
from tests.world import register, settle


def quick_sla(settings: Settings) -> Settings:
    sla = settings.sla.model_copy(
        update={
            "accept_within": timedelta(seconds=1),
            "complete_within": timedelta(seconds=3),
            "remind_every": timedelta(seconds=1),
            "escalate_after_reminders": 1,
            "sweep_every": timedelta(seconds=0.2),
        }
    )
    return settings.model_copy(update={"sla": sla})


async def test_reminder_then_escalation_each_once(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    await add_officer(runtime, "Supt. Rao", "9100", role="supervisor")
    citizen = new_chat("1001")
    await register(citizen)
    public_id = await file_complaint(citizen)
    async with runtime.db.reader() as session:
        assignment = (await session.scalars(select(Assignment))).one()
    watch = SlaWatch(runtime.db, quick_sla(runtime.settings), on_committed=runtime.notifier.wake)
    start = assignment.assigned_at

    assert (await watch.sweep(start + timedelta(seconds=0.5))).reminders == 0
    first = await watch.sweep(start + timedelta(seconds=1.5))
    assert (first.reminders, first.escalations) == (1, 0)
    assert (await watch.sweep(start + timedelta(seconds=1.6))).reminders == 0  # already reminded
    second = await watch.sweep(start + timedelta(seconds=2.5))
    assert (second.reminders, second.escalations) == (0, 1)
    again = await watch.sweep(start + timedelta(seconds=9))
    assert (again.reminders, again.escalations) == (0, 0)
    await settle(runtime)

    inspector, supervisor = new_chat("9001"), new_chat("9100")
    inspector.expect(f"Reminder: assignment {public_id} is waiting to be accepted")
    assert sum("Reminder" in r.text for r in inspector.replies) == 1
    supervisor.expect(f"Escalation: assignment {public_id} of Insp. Verma is overdue (not accepted)")
    assert sum("Escalation" in r.text for r in supervisor.replies) == 1

    # Accepting starts the completion clock with its own reminder.
    await inspector.press_payload(f"as:accept:{assignment.id}")
    async with runtime.db.reader() as session:
        accepted = await session.get(Assignment, assignment.id)
        assert accepted is not None and accepted.reminders_sent == 0
    assert (await watch.sweep(start + timedelta(seconds=3.5))).reminders == 1
    await settle(runtime)
    inspector.expect("still needs its inspection outcome")


async def test_two_sweeps_at_once_send_one_reminder(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    await file_complaint(citizen)
    async with runtime.db.reader() as session:
        assignment = (await session.scalars(select(Assignment))).one()
    settings = quick_sla(runtime.settings)
    first, second = SlaWatch(runtime.db, settings), SlaWatch(runtime.db, settings)
    when = assignment.assigned_at + timedelta(seconds=1.5)
    results = await asyncio.gather(first.sweep(when), second.sweep(when))
    assert sum(r.reminders for r in results) == 1


async def test_the_scheduler_finds_overdue_work_by_itself(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    public_id = await file_complaint(citizen)
    # A fresh watch is what a restarted process has: no timers, only the database.
    watch = SlaWatch(runtime.db, quick_sla(runtime.settings), on_committed=runtime.notifier.wake)
    await watch.start()
    try:
        inspector = new_chat("9001")
        for _ in range(300):  # up to 15 s: a loaded machine delays the scheduler's first run
            await asyncio.sleep(0.05)
            if any("Reminder" in r.text for r in inspector.replies):
                break
        inspector.expect(f"Reminder: assignment {public_id}")
    finally:
        await watch.stop()
