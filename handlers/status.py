"""Status: the citizen's complaints, newest first, and each one's detail and history.

    status:list --complaint--> status:detail --back--> status:list
"""

from __future__ import annotations

from bot.dialog import DialogContext, on, prompt
from bot.events import Choice
from handlers.common import category_label, date_text, menu_button
from storage.models import Complaint, StatusChange
from storage.repositories.complaints import CITIZEN_STATUS

LIST_LIMIT = 10


def status_text(ctx: DialogContext, status: str, outcome: str | None) -> str:
    """The status as the citizen sees it: pending, in process, or complete with its outcome."""
    shown = CITIZEN_STATUS.get(status, status)
    if shown == "complete" and outcome:
        return ctx.t(f"status.complete_{outcome}")
    return ctx.t(f"status.{shown}")


@prompt("status:list")
async def list_complaints(ctx: DialogContext) -> None:
    """Lists the citizen's latest complaints as buttons."""
    complaints = await ctx.complaints.of_citizen(ctx.citizen.id, limit=LIST_LIMIT)
    followed = await ctx.complaints.followed_by(ctx.citizen.id, limit=LIST_LIMIT)
    if not complaints and not followed:
        ctx.say(ctx.t("status.none"), choices=[[ctx.choice("menu:report", "menu.report")], menu_button(ctx)])
        return
    lines = [ctx.t("status.header")]
    lines += [
        ctx.t(
            "status.item",
            public_id=c.public_id,
            category=category_label(ctx, c.category),
            status=status_text(ctx, c.status, c.outcome),
            date=date_text(ctx, c.created_at),
        )
        for c in complaints
    ]
    if followed:
        lines.append(ctx.t("status.following"))
        lines += [
            ctx.t(
                "status.item",
                public_id=c.public_id,
                category=category_label(ctx, c.category),
                status=status_text(ctx, c.status, c.outcome),
                date=date_text(ctx, c.created_at),
            )
            for c in followed
        ]
    lines.append(ctx.t("status.open_hint"))
    rows = [[Choice(f"st:open:{c.id}", str(c.public_id))] for c in complaints]
    ctx.say("\n".join(lines), choices=[*rows, menu_button(ctx)])


@on("status:list")
async def got_complaint_pick(ctx: DialogContext) -> None:
    """Opens the chosen complaint (only the citizen's own)."""
    choice = ctx.event.choice or ""
    if choice.startswith("st:open:") and choice[8:].isdigit():
        complaint = await ctx.complaints.get(int(choice[8:]))
        if complaint is not None and complaint.citizen_id == ctx.citizen.id:
            ctx.data["status_open"] = complaint.id
            ctx.goto("status:detail")
            return
    ctx.say(ctx.t("report.reminder_choice"))
    ctx.goto("status:list")


def _history_line(ctx: DialogContext, change: StatusChange) -> str:
    return ctx.t(
        "status.history_item",
        date=date_text(ctx, change.created_at),
        status=status_text(ctx, change.to_status, change.outcome),
    )


def _target(ctx: DialogContext, complaint: Complaint) -> str:
    if complaint.target_ivrs:
        return complaint.target_ivrs
    if complaint.latitude is not None and complaint.longitude is not None:
        return ctx.t("report.target_by_location", lat=f"{complaint.latitude:.5f}", lon=f"{complaint.longitude:.5f}")
    return ctx.t("report.target_unknown")


@prompt("status:detail")
async def show_detail(ctx: DialogContext) -> None:
    """Shows one complaint with its full status history."""
    complaint = await ctx.complaints.get(int(ctx.data.get("status_open", 0)))
    if complaint is None or complaint.citizen_id != ctx.citizen.id:
        ctx.goto("status:list")
        return
    history = await ctx.complaints.history(complaint.id)
    photos = await ctx.complaints.photos(complaint.id)
    ctx.say(
        ctx.t(
            "status.detail",
            public_id=complaint.public_id,
            category=category_label(ctx, complaint.category),
            target=_target(ctx, complaint),
            status=status_text(ctx, complaint.status, complaint.outcome),
            date=date_text(ctx, complaint.created_at),
            photos=len(photos),
            history="\n".join(_history_line(ctx, change) for change in history),
        ),
        choices=[[ctx.choice("st:back", "status.back")], menu_button(ctx)],
    )


@on("status:detail")
async def got_detail_action(ctx: DialogContext) -> None:
    """Returns to the list."""
    ctx.data.pop("status_open", None)
    ctx.goto("status:list")
