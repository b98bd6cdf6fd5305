"""Officers of the vigilance wing and their assignments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Assignment, Officer, utcnow

OPEN_ASSIGNMENT_STATES = ("assigned", "accepted", "inspecting")


class OfficerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, *, name: str, district: str, role: str, channel: str, external_id: str, zone: str | None = None
    ) -> Officer:
        officer = Officer(
            name=name, district=district, zone=zone, role=role, channel=channel, external_id=external_id, active=True
        )
        self.session.add(officer)
        await self.session.flush()
        return officer

    async def get(self, officer_id: int) -> Officer | None:
        return await self.session.get(Officer, officer_id)

    async def by_identity(self, channel: str, external_id: str) -> Officer | None:
        stmt = select(Officer).where(
            Officer.channel == channel, Officer.external_id == external_id, Officer.active.is_(True)
        )
        return await self.session.scalar(stmt)

    async def list(self, include_inactive: bool = True) -> list[Officer]:
        stmt = select(Officer).order_by(Officer.district, Officer.role, Officer.id)
        if not include_inactive:
            stmt = stmt.where(Officer.active.is_(True))
        return list(await self.session.scalars(stmt))

    async def deactivate(self, officer_id: int) -> bool:
        officer = await self.session.get(Officer, officer_id)
        if officer is None:
            return False
        officer.active = False
        await self.session.flush()
        return True

    async def least_loaded_inspector(self, district: str) -> Officer | None:
        """The active inspector of the district with the fewest open assignments (oldest officer on ties)."""
        open_count = (
            select(func.count(Assignment.id))
            .where(Assignment.officer_id == Officer.id, Assignment.state.in_(OPEN_ASSIGNMENT_STATES))
            .scalar_subquery()
        )
        stmt = (
            select(Officer)
            .where(Officer.district == district, Officer.role == "inspector", Officer.active.is_(True))
            .order_by(open_count, Officer.id)
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def supervisors(self, district: str) -> list[Officer]:
        stmt = select(Officer).where(
            Officer.district == district, Officer.role == "supervisor", Officer.active.is_(True)
        )
        return list(await self.session.scalars(stmt))

    async def assign(self, complaint_id: int, officer_id: int) -> Assignment:
        assignment = Assignment(complaint_id=complaint_id, officer_id=officer_id, state="assigned")
        self.session.add(assignment)
        await self.session.flush()
        return assignment

    async def open_assignments(self, officer_id: int) -> list[Assignment]:
        stmt = (
            select(Assignment)
            .where(Assignment.officer_id == officer_id, Assignment.state.in_(OPEN_ASSIGNMENT_STATES))
            .order_by(Assignment.assigned_at)
        )
        return list(await self.session.scalars(stmt))

    async def assignment(self, assignment_id: int) -> Assignment | None:
        return await self.session.get(Assignment, assignment_id)

    async def current_assignment(self, complaint_id: int) -> Assignment | None:
        """The complaint's live assignment (not reassigned away), if any."""
        stmt = (
            select(Assignment)
            .where(Assignment.complaint_id == complaint_id, Assignment.state != "reassigned")
            .order_by(Assignment.id.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def move_assignment(self, assignment_id: int, from_states: tuple[str, ...], to_state: str) -> bool:
        """Guarded state change; False when the assignment was not in one of from_states."""
        values: dict[str, object] = {"state": to_state}
        if to_state == "accepted":
            # The completion deadline starts its own reminders and escalation.
            values.update(accepted_at=utcnow(), reminders_sent=0, last_reminded_at=None, escalated_at=None)
        if to_state == "done":
            values["completed_at"] = utcnow()
        result = await self.session.execute(
            update(Assignment).where(Assignment.id == assignment_id, Assignment.state.in_(from_states)).values(**values)
        )
        return result.rowcount == 1

    async def open_in_states(self, states: tuple[str, ...], assigned_before: datetime) -> list[Assignment]:
        """Open assignments in the given states that were handed out before the cutoff."""
        stmt = (
            select(Assignment)
            .where(Assignment.state.in_(states), Assignment.assigned_at <= assigned_before)
            .order_by(Assignment.id)
        )
        return list(await self.session.scalars(stmt))

    async def note_reminder(self, assignment_id: int, reminders_sent: int) -> bool:
        """Count one more reminder, once: False if another sweep already counted it."""
        result = await self.session.execute(
            update(Assignment)
            .where(Assignment.id == assignment_id, Assignment.reminders_sent == reminders_sent)
            .values(reminders_sent=reminders_sent + 1, last_reminded_at=utcnow())
        )
        return result.rowcount == 1

    async def note_escalation(self, assignment_id: int) -> bool:
        result = await self.session.execute(
            update(Assignment)
            .where(Assignment.id == assignment_id, Assignment.escalated_at.is_(None))
            .values(escalated_at=utcnow())
        )
        return result.rowcount == 1

    async def in_district(self, district: str, role: str | None = None) -> list[Officer]:
        stmt = select(Officer).where(Officer.district == district, Officer.active.is_(True)).order_by(Officer.id)
        if role:
            stmt = stmt.where(Officer.role == role)
        return list(await self.session.scalars(stmt))
