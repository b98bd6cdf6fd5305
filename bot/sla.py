"""SLA watch: reminds officers of overdue assignments and escalates to the district's supervisors.

The database holds the truth (assigned_at, reminders_sent, escalated_at); APScheduler only wakes
the sweep up: a periodic job, plus a date job at the next moment something falls due. A timer lost
in a restart is harmless: the next periodic sweep finds the same overdue rows. Each reminder and
each escalation is a guarded UPDATE, so two sweeps (or two processes) never send it twice.

    assigned --accept_within--> reminder x N (every remind_every) --> supervisors alerted
    accepted/inspecting --complete_within--> the same again for the outcome
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.casework import officer_language, push_to_officer
from bot.config import Settings
from bot.events import Choice, Reply
from bot.i18n import translate
from storage.db import Database
from storage.models import Assignment, Complaint, utcnow
from storage.repositories import OfficerRepository

log = logging.getLogger(__name__)

OPEN_STATES = ("assigned", "accepted", "inspecting")


@dataclass
class SweepResult:
    reminders: int = 0
    escalations: int = 0
    next_due: datetime | None = None


def _deadline(settings: Settings, assignment: Assignment) -> datetime:
    if assignment.state == "assigned":
        return assignment.assigned_at + settings.sla.accept_within
    return assignment.assigned_at + settings.sla.complete_within


class SlaWatch:
    """Sweeps open assignments for missed deadlines; scheduled by APScheduler."""

    def __init__(self, db: Database, settings: Settings, on_committed: Callable[[], None] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.on_committed = on_committed
        self.scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.settings.sla.sweep_every.total_seconds(),
            id="sla-sweep",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(self._purge_photos, "interval", hours=24, id="photo-retention", max_instances=1)
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None

    async def _purge_photos(self) -> None:
        """The daily photo retention pass (here because it shares this scheduler)."""
        from bot.app import photo_store_for  # the app module imports this one
        from storage.photo_retention import purge_photos

        store = photo_store_for(self.settings)
        try:
            removed = await purge_photos(self.db, store, utcnow() - self.settings.photos.retention)
        except Exception:
            log.exception("photo retention pass failed")
            return
        if removed:
            log.info("photo retention: %d files deleted", removed)

    async def _tick(self) -> None:
        try:
            result = await self.sweep()
        except Exception:
            log.exception("SLA sweep failed")
            return
        if result.next_due is not None and self.scheduler is not None:
            # Wake up exactly when the next deadline passes, not only at the next periodic sweep.
            self.scheduler.add_job(
                self._tick, "date", run_date=result.next_due, id="sla-next", replace_existing=True, max_instances=1
            )

    async def sweep(self, now: datetime | None = None) -> SweepResult:
        """Send every reminder and escalation that is due at `now`; report when the next one falls due."""
        now = now or utcnow()
        sla = self.settings.sla
        result = SweepResult()
        async with self.db.reader() as session:
            candidates = await OfficerRepository(session).open_in_states(OPEN_STATES, now)
        for assignment in candidates:
            due = _deadline(self.settings, assignment)
            step = sla.remind_every
            if assignment.reminders_sent < sla.escalate_after_reminders:
                fire_at = due + step * assignment.reminders_sent
                if fire_at <= now:
                    result.reminders += await self._remind(assignment)
                    fire_at = due + step * (assignment.reminders_sent + 1)
            elif assignment.escalated_at is None:
                fire_at = due + step * assignment.reminders_sent
                if fire_at <= now:
                    result.escalations += await self._escalate(assignment)
                    continue
            else:
                continue
            if fire_at > now and (result.next_due is None or fire_at < result.next_due):
                result.next_due = fire_at
        if (result.reminders or result.escalations) and self.on_committed is not None:
            self.on_committed()
        return result

    async def _remind(self, assignment: Assignment) -> int:
        async with self.db.transaction() as session:
            officers = OfficerRepository(session)
            if not await officers.note_reminder(assignment.id, assignment.reminders_sent):
                return 0
            officer = await officers.get(assignment.officer_id)
            complaint = await session.get(Complaint, assignment.complaint_id)
            if officer is None or complaint is None:
                return 0
            language = await officer_language(session, self.settings, officer)
            key = "officer.reminder_accept" if assignment.state == "assigned" else "officer.reminder_complete"
            since = assignment.assigned_at.strftime("%Y-%m-%d %H:%M UTC")
            text = translate(language, key, public_id=complaint.public_id, since=since)
            buttons = [[Choice(f"off:open:{assignment.id}", str(complaint.public_id))]]
            await push_to_officer(session, self.settings, officer, Reply(text=text, choices=buttons), "reminder")
        assignment.reminders_sent += 1
        return 1

    async def _escalate(self, assignment: Assignment) -> int:
        async with self.db.transaction() as session:
            officers = OfficerRepository(session)
            if not await officers.note_escalation(assignment.id):
                return 0
            officer = await officers.get(assignment.officer_id)
            complaint = await session.get(Complaint, assignment.complaint_id)
            if officer is None or complaint is None:
                return 0
            supervisors = await officers.supervisors(officer.district)
            if not supervisors:
                log.warning("no supervisor in %s to escalate %s to", officer.district, complaint.public_id)
            for supervisor in supervisors:
                language = await officer_language(session, self.settings, supervisor)
                overdue = "officer.overdue_accept" if assignment.state == "assigned" else "officer.overdue_complete"
                text = translate(
                    language,
                    "officer.escalation",
                    public_id=complaint.public_id,
                    name=officer.name,
                    what=translate(language, overdue),
                )
                buttons = [[Choice(f"sup:pick:{complaint.id}", translate(language, "officer.reassign"))]]
                await push_to_officer(session, self.settings, supervisor, Reply(text=text, choices=buttons), "reminder")
        return 1

