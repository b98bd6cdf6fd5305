"""A complaint's life after filing: routing to an inspector, the assignment message, outcomes, pushes.

Every function here runs inside the caller's transaction and only queues messages in the
outbox, so a state change and the messages that report it commit (or vanish) together.

    pending --route--> assigned --accept--> accepted --start--> inspecting --outcome--> complete
    (no inspector: stays pending, the district's supervisors are alerted; a supervisor can reassign)

Nothing an officer receives names the complainant: the assignment message is built from the
complaint, the consumer register and the photos only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.events import Choice, MapPin, Reply
from bot.i18n import translate
from bot.notifier import enqueue
from storage.models import Assignment, ChannelIdentity, Citizen, Complaint, Officer
from storage.repositories import ComplaintRepository, ConsumerRepository, OfficerRepository

log = logging.getLogger(__name__)

# Officer action -> (assignment states it applies to, new assignment state, new complaint status, outcome)
ACTIONS: dict[str, tuple[tuple[str, ...], str, str, str | None]] = {
    "accept": (("assigned",), "accepted", "accepted", None),
    "start": (("assigned", "accepted"), "inspecting", "inspecting", None),
    "confirmed": (("assigned", "accepted", "inspecting"), "done", "complete", "confirmed"),
    "not_found": (("assigned", "accepted", "inspecting"), "done", "complete", "not_found"),
    "false_report": (("assigned", "accepted", "inspecting"), "done", "complete", "false_report"),
}

# Called after an irregularity is confirmed (the rewards module hooks in here).
ConfirmedHook = Callable[[AsyncSession, Settings, Complaint], Awaitable[None]]
confirmed_hooks: list[ConfirmedHook] = []


class ActionRefused(Exception):
    """The button no longer applies (the assignment moved on, or belongs to someone else)."""


async def identity_language(session: AsyncSession, channel: str, external_id: str, default: str) -> str:
    """The language chosen by whoever uses this channel address."""
    stmt = (
        select(Citizen.language)
        .join(ChannelIdentity, ChannelIdentity.citizen_id == Citizen.id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    return await session.scalar(stmt) or default


async def push_to_citizen(
    session: AsyncSession, citizen_id: int | None, key: str, kind: str = "status_update", **values: object
) -> None:
    """Queue a message to the complainant on the channel they used last, in their language."""
    citizen = await session.get(Citizen, citizen_id) if citizen_id is not None else None
    if citizen is None or citizen.deleted_at is not None:
        return
    identity = await session.get(ChannelIdentity, citizen.last_identity_id) if citizen.last_identity_id else None
    if identity is None:
        identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.citizen_id == citizen.id))
    if identity is None:
        return
    reply = Reply(text=translate(citizen.language, key, **values))
    await enqueue(session, identity.channel, identity.external_id, reply, kind)


async def push_about(session: AsyncSession, complaint: Complaint, key: str, **values: object) -> None:
    """Queue a status message to the complainant and to every citizen following the complaint."""
    await push_to_citizen(session, complaint.citizen_id, key, **values)
    for follower in await ComplaintRepository(session).followers(complaint.id):
        if follower != complaint.citizen_id:
            await push_to_citizen(session, follower, key, **values)


async def push_to_officer(session: AsyncSession, settings: Settings, officer: Officer, reply: Reply, kind: str) -> None:
    await enqueue(session, officer.channel, officer.external_id, reply, kind)


async def officer_language(session: AsyncSession, settings: Settings, officer: Officer) -> str:
    return await identity_language(session, officer.channel, officer.external_id, settings.dialog.default_language)


def action_buttons(language: str, assignment: Assignment) -> list[list[Choice]]:
    """The buttons that still apply to the assignment in its current state."""
    rows = []
    for action in ("accept", "start", "confirmed", "not_found", "false_report"):
        if assignment.state in ACTIONS[action][0]:
            rows.append([Choice(f"as:{action}:{assignment.id}", translate(language, f"officer.action_{action}"))])
    return rows


async def assignment_reply(
    session: AsyncSession, settings: Settings, language: str, assignment: Assignment, *, header_key: str
) -> Reply:
    """The complaint as an officer sees it: id, category, consumer, location, photos, note; never the complainant."""
    complaint = await session.get(Complaint, assignment.complaint_id)
    assert complaint is not None
    consumer = await ConsumerRepository(session).get(complaint.consumer_id) if complaint.consumer_id else None
    unknown = translate(language, "units.unknown")
    if consumer is not None:
        target = translate(
            language,
            "officer.consumer",
            ivrs=consumer.ivrs,
            address=consumer.address or unknown,
            district=consumer.district or unknown,
            category=consumer.category or unknown,
            load=translate(language, "units.kw", value=f"{consumer.sanctioned_load_kw:g}")
            if consumer.sanctioned_load_kw is not None
            else unknown,
        )
    else:
        target = translate(language, "officer.no_consumer")
    location = (
        translate(
            language,
            "officer.location",
            lat=f"{complaint.latitude:.5f}",
            lon=f"{complaint.longitude:.5f}",
            map=f"https://www.google.com/maps?q={complaint.latitude:.6f},{complaint.longitude:.6f}",
        )
        if complaint.latitude is not None and complaint.longitude is not None
        else ""
    )
    photos = await ComplaintRepository(session).photos(complaint.id)
    reused = await ComplaintRepository(session).photo_reuse(complaint.id)
    text = translate(
        language,
        header_key,
        public_id=complaint.public_id,
        category=translate(language, f"categories.{complaint.category}"),
        district=complaint.district or unknown,
        target=target,
        location=location,
        note=complaint.note or "—",
        photos=len(photos),
    )
    if reused:
        text += "\n" + translate(language, "officer.photo_reused", others=", ".join(reused))
    pin = MapPin(complaint.latitude, complaint.longitude) if complaint.latitude is not None else None
    return Reply(
        text=text,
        choices=action_buttons(language, assignment),
        pin=pin,
        photos=[photo.path for photo in photos if photo.path],  # purged photos have no file any more
    )


async def assign(
    session: AsyncSession,
    settings: Settings,
    complaint: Complaint,
    officer: Officer,
    *,
    actor_kind: str = "system",
    actor_id: int | None = None,
) -> Assignment:
    """Hand the complaint to an officer: the assignment row, the status change and both messages."""
    officers = OfficerRepository(session)
    complaints = ComplaintRepository(session)
    previous = await officers.current_assignment(complaint.id)
    if previous is not None:
        await officers.move_assignment(previous.id, ("assigned", "accepted", "inspecting"), "reassigned")
    assignment = await officers.assign(complaint.id, officer.id)
    if complaint.status == "pending":
        await complaints.transition(complaint, "assigned", actor_kind=actor_kind, actor_id=actor_id)
        await push_about(session, complaint, "push.assigned", public_id=complaint.public_id)
    else:
        await complaints.transition(
            complaint, "assigned", actor_kind=actor_kind, actor_id=actor_id, note=f"reassigned to officer {officer.id}"
        )
    language = await officer_language(session, settings, officer)
    reply = await assignment_reply(session, settings, language, assignment, header_key="officer.assignment")
    await push_to_officer(session, settings, officer, reply, "officer_assignment")
    return assignment


async def route_complaint(session: AsyncSession, settings: Settings, complaint: Complaint) -> Assignment | None:
    """Assign to the district's least-loaded active inspector, or alert its supervisors when there is none."""
    officers = OfficerRepository(session)
    inspector = await officers.least_loaded_inspector(complaint.district) if complaint.district else None
    if inspector is not None:
        return await assign(session, settings, complaint, inspector)
    supervisors = await officers.supervisors(complaint.district) if complaint.district else []
    for supervisor in supervisors:
        language = await officer_language(session, settings, supervisor)
        reply = Reply(
            text=translate(
                language, "officer.unrouted", public_id=complaint.public_id, district=complaint.district or "?"
            ),
            choices=[[Choice(f"sup:pick:{complaint.id}", translate(language, "officer.reassign"))]],
        )
        await push_to_officer(session, settings, supervisor, reply, "officer_assignment")
    if not supervisors:
        log.warning("no inspector or supervisor for %s in %r", complaint.public_id, complaint.district)
    return None


async def record_action(
    session: AsyncSession,
    settings: Settings,
    officer: Officer,
    assignment_id: int,
    action: str,
    *,
    assessed_amount_paise: int | None = None,
    case_reference: str | None = None,
) -> Complaint:
    """Apply an officer's button: move the assignment and the complaint once, write history, tell the complainant."""
    if action not in ACTIONS:
        raise ActionRefused(action)
    from_states, to_state, status, outcome = ACTIONS[action]
    officers = OfficerRepository(session)
    assignment = await officers.assignment(assignment_id)
    if assignment is None or assignment.officer_id != officer.id:
        raise ActionRefused("not your assignment")
    if not await officers.move_assignment(assignment.id, from_states, to_state):
        raise ActionRefused(f"assignment is {assignment.state}")
    complaint = await session.get(Complaint, assignment.complaint_id)
    assert complaint is not None
    if outcome == "confirmed":
        complaint.assessed_amount_paise = assessed_amount_paise
        complaint.case_reference = case_reference
    await ComplaintRepository(session).transition(
        complaint, status, actor_kind="officer", actor_id=officer.id, outcome=outcome, note=case_reference
    )
    key = f"push.{action}"
    await push_about(session, complaint, key, public_id=complaint.public_id)
    if outcome == "confirmed":
        for hook in confirmed_hooks:
            await hook(session, settings, complaint)
    return complaint
