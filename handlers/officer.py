"""Officer dialogs: the officer menu, assignments, inspection outcomes and a supervisor's reassignment.

    officer:menu --my assignments--> officer:list --open--> the assignment with its buttons
    assignment --accept | start | not found | false report--> recorded
               --confirmed--> officer:amount --rupees--> officer:reference --text--> recorded
    supervisor alert --assign--> officer:reassign --inspector--> assigned (the old officer is told)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.casework import ActionRefused, action_buttons, assign, assignment_reply, record_action
from bot.dialog import DialogContext, on, prompt
from bot.events import Choice
from handlers.common import category_label, date_text
from storage.models import Complaint

_AMOUNT = re.compile(r"^(?:rs\.?|inr|₹)?\s*(\d{1,3}(?:,\d{2,3})*|\d+)(?:\.(\d{1,2}))?\s*(?:/-)?$", re.IGNORECASE)
MAX_ASSESSED_PAISE = 100_000_000_00  # Rs 10 crore: anything above is a typing mistake

# Further officer buttons (e.g. the rewards module's appeal buttons) register a router here.
EXTRA_OFFICER_ROUTES: list[Callable[[DialogContext], Awaitable[bool]]] = []


def parse_rupees(text: str) -> int | None:
    """Rupees as typed by an officer ("12,500", "₹12500.50", "12500/-") in integer paise, or None."""
    match = _AMOUNT.match(text.strip())
    if not match:
        return None
    rupees = int(match.group(1).replace(",", ""))
    paise = int((match.group(2) or "0").ljust(2, "0"))
    total = rupees * 100 + paise
    return total if 0 < total <= MAX_ASSESSED_PAISE else None


def officer_menu_choices(ctx: DialogContext) -> list[list[Choice]]:
    return [[ctx.choice("off:list", "officer.my_assignments")], [ctx.choice("menu:stats", "officer.stats")]]


@prompt("officer:menu")
async def show_officer_menu(ctx: DialogContext) -> None:
    """Shows the officer's name, district and open assignments count, with the officer buttons."""
    officer = ctx.officer
    assert officer is not None
    open_count = len(await ctx.officers.open_assignments(officer.id))
    ctx.say(
        ctx.t("officer.menu", name=officer.name, district=officer.district, open=open_count),
        choices=officer_menu_choices(ctx),
    )


@on("officer:menu")
async def at_officer_menu(ctx: DialogContext) -> None:
    """Text at the officer menu: shows the menu again."""
    ctx.goto("officer:menu")


@prompt("officer:list")
async def list_assignments(ctx: DialogContext) -> None:
    """Lists the officer's open assignments, oldest first, as buttons."""
    assert ctx.officer is not None
    assignments = await ctx.officers.open_assignments(ctx.officer.id)
    if not assignments:
        ctx.say(ctx.t("officer.list_empty"))
        ctx.goto("officer:menu")
        return
    lines = [ctx.t("officer.list_header")]
    rows = []
    for assignment in assignments:
        complaint = await ctx.session.get(Complaint, assignment.complaint_id)
        assert complaint is not None
        lines.append(
            ctx.t(
                "officer.list_item",
                public_id=complaint.public_id,
                category=category_label(ctx, complaint.category),
                state=ctx.t(f"officer.state_{assignment.state}"),
                date=date_text(ctx, assignment.assigned_at),
            )
        )
        rows.append([Choice(f"off:open:{assignment.id}", str(complaint.public_id))])
    ctx.say("\n".join(lines), choices=rows)


@on("officer:list")
async def at_officer_list(ctx: DialogContext) -> None:
    """Anything but a button at the list: shows it again."""
    ctx.goto("officer:list")


@prompt("officer:amount")
async def ask_amount(ctx: DialogContext) -> None:
    """Asks for the assessed amount of a confirmed irregularity."""
    ctx.say(ctx.t("officer.ask_amount", public_id=ctx.data.get("confirm_public_id", "")))


@on("officer:amount", takes_text=True)
async def got_amount(ctx: DialogContext) -> None:
    """Stores the assessed amount in paise and asks for the case reference."""
    paise = parse_rupees(ctx.event.text or "")
    if paise is None:
        ctx.say(ctx.t("officer.amount_invalid"))
        return
    ctx.data["confirm_paise"] = paise
    ctx.goto("officer:reference")


@prompt("officer:reference")
async def ask_reference(ctx: DialogContext) -> None:
    """Asks for the case / panchnama reference."""
    ctx.say(ctx.t("officer.ask_reference"))


@on("officer:reference", takes_text=True)
async def got_reference(ctx: DialogContext) -> None:
    """Records the confirmed outcome with its amount and reference."""
    reference = (ctx.event.text or "").strip()
    if not 2 <= len(reference) <= 80:
        ctx.say(ctx.t("officer.reference_invalid"))
        return
    await _apply(
        ctx,
        int(ctx.data["confirm_assignment"]),
        "confirmed",
        assessed_amount_paise=int(ctx.data["confirm_paise"]),
        case_reference=reference,
    )


@prompt("officer:reassign")
async def ask_reassign(ctx: DialogContext) -> None:
    """Lists the district's active inspectors for a supervisor to choose from."""
    complaint = await ctx.session.get(Complaint, int(ctx.data["reassign_complaint"]))
    assert complaint is not None
    inspectors = await ctx.officers.in_district(complaint.district or "", role="inspector")
    if not inspectors:
        ctx.say(ctx.t("officer.no_inspectors", district=complaint.district or "?"))
        ctx.goto("officer:menu")
        return
    rows = []
    for inspector in inspectors:
        load = len(await ctx.officers.open_assignments(inspector.id))
        rows.append([Choice(f"sup:to:{complaint.id}:{inspector.id}", f"{inspector.name} ({load})")])
    ctx.say(ctx.t("officer.ask_reassign", public_id=complaint.public_id), choices=rows)


@on("officer:reassign")
async def at_reassign(ctx: DialogContext) -> None:
    """Anything but an inspector button: asks again."""
    ctx.goto("officer:reassign")


async def officer_route(ctx: DialogContext) -> bool:
    """Officer buttons work from any step; returns False to let the current step handle the event."""
    choice = ctx.event.choice or ""
    officer = ctx.officer
    assert officer is not None
    if choice.startswith("as:"):
        _, action, assignment_id = [*choice.split(":"), "", ""][:3]
        if not assignment_id.isdigit():
            return False
        if action == "confirmed":
            assignment = await ctx.officers.assignment(int(assignment_id))
            if assignment is None or assignment.officer_id != officer.id or assignment.state == "done":
                ctx.say(ctx.t("officer.stale"))
                return True
            complaint = await ctx.session.get(Complaint, assignment.complaint_id)
            public_id = complaint.public_id if complaint else ""
            ctx.data.update(confirm_assignment=assignment.id, confirm_public_id=public_id)
            ctx.goto("officer:amount")
        else:
            await _apply(ctx, int(assignment_id), action)
        return True
    if choice == "off:list":
        ctx.goto("officer:list")
        return True
    if choice.startswith("off:open:") and choice[9:].isdigit():
        assignment = await ctx.officers.assignment(int(choice[9:]))
        if assignment is None or assignment.officer_id != officer.id:
            ctx.say(ctx.t("officer.stale"))
            return True
        view = await assignment_reply(
            ctx.session, ctx.settings, ctx.language, assignment, header_key="officer.assignment_view"
        )
        ctx.replies.append(view)
        return True
    if choice.startswith("sup:"):
        await _supervise(ctx, choice)
        return True
    for extra in EXTRA_OFFICER_ROUTES:
        if await extra(ctx):
            return True
    return False


async def _supervise(ctx: DialogContext, choice: str) -> None:
    officer = ctx.officer
    assert officer is not None
    parts = choice.split(":")
    complaint = await ctx.session.get(Complaint, int(parts[2])) if len(parts) > 2 and parts[2].isdigit() else None
    if complaint is None or officer.role != "supervisor" or officer.district != complaint.district:
        ctx.say(ctx.t("officer.not_supervisor"))
        return
    if parts[1] == "pick":
        ctx.data["reassign_complaint"] = complaint.id
        ctx.goto("officer:reassign")
        return
    if parts[1] == "to" and len(parts) == 4 and parts[3].isdigit():
        inspector = await ctx.officers.get(int(parts[3]))
        if inspector is None or not inspector.active or inspector.district != complaint.district:
            ctx.goto("officer:reassign")
            return
        if complaint.status == "complete":
            ctx.say(ctx.t("officer.stale"))
            return
        await assign(ctx.session, ctx.settings, complaint, inspector, actor_kind="officer", actor_id=officer.id)
        ctx.say(ctx.t("officer.reassigned", public_id=complaint.public_id, name=inspector.name))
        ctx.data.pop("reassign_complaint", None)
        ctx.goto("officer:menu")


async def _apply(ctx: DialogContext, assignment_id: int, action: str, **details: object) -> None:
    officer = ctx.officer
    assert officer is not None
    try:
        complaint = await record_action(
            ctx.session, ctx.settings, officer, assignment_id, action, **details  # type: ignore[arg-type]
        )
    except ActionRefused:
        ctx.say(ctx.t("officer.stale"))
        return
    for key in ("confirm_assignment", "confirm_public_id", "confirm_paise"):
        ctx.data.pop(key, None)
    amount = f"{(complaint.assessed_amount_paise or 0) / 100:,.2f}"
    text = ctx.t(
        f"officer.done_{action}", public_id=complaint.public_id, amount=amount, reference=complaint.case_reference or ""
    )
    assignment = await ctx.officers.assignment(assignment_id)
    if assignment is not None and assignment.state != "done":
        await ctx.session.refresh(assignment)
        ctx.say(text, choices=action_buttons(ctx.language, assignment))  # the buttons that still apply
        ctx.settle_at("officer:menu")
        return
    ctx.say(text)
    ctx.goto("officer:menu")
