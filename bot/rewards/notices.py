"""What the complainant and the officers are told about a reward, through the outbox.

Citizens get kind="reward_update" pushes (WhatsApp's reward template outside the 24-hour window);
officers get the reward notice with the appeal button. Money is shown from integer paise.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.casework import officer_language, push_to_citizen, push_to_officer
from bot.config import Settings
from bot.events import Choice, Reply
from bot.i18n import translate
from storage.models import Citizen, Complaint, Officer, Reward
from storage.repositories import OfficerRepository

IST = ZoneInfo("Asia/Kolkata")
KIND = "reward_update"


def rupees(paise: int) -> str:
    """Integer paise as rupees with two decimals, e.g. 1250000 -> '12,500.00'."""
    return f"{paise // 100:,}.{paise % 100:02d}"


def local_time(language: str, moment: datetime) -> str:
    """A moment as the citizen reads it, in India time: '11 Dec 2026, 14:05'."""
    local = moment.astimezone(IST)
    month = translate(language, "dates.months").split(",")[local.month - 1]
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


async def tell_citizen(session: AsyncSession, reward: Reward, key: str, **values: object) -> None:
    """Queue the message `key` about this reward to its complainant, with public_id and amount filled in."""
    citizen = await session.get(Citizen, reward.citizen_id) if reward.citizen_id is not None else None
    complaint = await session.get(Complaint, reward.complaint_id)
    if citizen is None or complaint is None:
        return
    if "date" not in values:
        values["date"] = local_time(citizen.language, reward.due_at)
    await push_to_citizen(
        session,
        citizen.id,
        key,
        kind=KIND,
        public_id=complaint.public_id,
        amount=rupees(reward.amount_paise),
        **values,
    )


def appeal_buttons(language: str, reward: Reward) -> list[list[Choice]]:
    """The buttons an officer has for this reward in its current state."""
    if reward.state == "scheduled":
        return [[Choice(f"rw:appeal:{reward.id}", translate(language, "rewards.officer_appeal"))]]
    if reward.state == "held":
        return [
            [Choice(f"rw:release:{reward.id}", translate(language, "rewards.officer_release"))],
            [Choice(f"rw:cancel:{reward.id}", translate(language, "rewards.officer_cancel"))],
        ]
    return []


async def officers_for(session: AsyncSession, complaint: Complaint) -> list[Officer]:
    """Who may record an appeal: the inspector who confirmed the finding and the district's supervisors."""
    officers = OfficerRepository(session)
    found: dict[int, Officer] = {}
    assignment = await officers.current_assignment(complaint.id)
    if assignment is not None:
        inspector = await officers.get(assignment.officer_id)
        if inspector is not None and inspector.active:
            found[inspector.id] = inspector
    for supervisor in await officers.supervisors(complaint.district) if complaint.district else []:
        found.setdefault(supervisor.id, supervisor)
    return list(found.values())


async def tell_officers(session: AsyncSession, settings: Settings, reward: Reward, complaint: Complaint) -> None:
    """The reward notice with the appeal button, to everyone who may record an appeal."""
    for officer in await officers_for(session, complaint):
        language = await officer_language(session, settings, officer)
        text = translate(
            language,
            "rewards.officer_notice",
            public_id=complaint.public_id,
            amount=rupees(reward.amount_paise),
            date=local_time(language, reward.due_at),
        )
        await push_to_officer(
            session, settings, officer, Reply(text=text, choices=appeal_buttons(language, reward)), KIND
        )
