"""Report, parts 1 and 3: the irregularity, the photos, a note, the summary and filing.

    report:category --> (target known? photos : report:target ...) --> report:photos --done-->
    report:note --(text | skip)--> report:summary --submit--> complaint id, menu
                                                  --edit--> report:edit --> the chosen step --> summary
                                                  --cancel--> menu
"""

from __future__ import annotations

import math
from datetime import timedelta

from bot.casework import route_complaint
from bot.dialog import IDLE, DialogContext, on, prompt
from bot.events import Ask, Choice
from handlers.common import CATEGORIES, category_label, menu_button
from handlers.report_target import clear_target, report_data
from handlers.status import status_text
from storage.models import utcnow
from storage.repositories.complaints import NewPhoto

NOTE_MAX = 1000


async def filing_limit(ctx: DialogContext) -> str | None:
    """Why the citizen may not file a complaint right now (a message), or None."""
    abuse = ctx.settings.abuse
    now = utcnow()
    count, latest = await ctx.complaints.filed_since(ctx.citizen.id, now - timedelta(days=1))
    if count >= abuse.max_complaints_per_day:
        return ctx.t("report.limit_day", max=abuse.max_complaints_per_day)
    if latest is not None and now - latest < abuse.min_gap_between_complaints:
        wait = abuse.min_gap_between_complaints - (now - latest)
        return ctx.t("report.limit_gap", minutes=max(1, math.ceil(wait.total_seconds() / 60)))
    return None


@prompt("report:category")
async def ask_category(ctx: DialogContext) -> None:
    """Asks which of the seven irregularities this is (unless the citizen has hit a filing limit)."""
    if not report_data(ctx).get("editing"):
        limited = await filing_limit(ctx)
        if limited:
            ctx.say(limited)
            ctx.reset(IDLE)
            return
    rows = [[ctx.choice(f"cat:{key}", f"categories.{key}")] for key in CATEGORIES]
    ctx.say(ctx.t("report.ask_category"), choices=[*rows, menu_button(ctx)])


@on("report:category")
async def got_category(ctx: DialogContext) -> None:
    """Stores the irregularity and asks for the accused consumer (unless already chosen)."""
    choice = ctx.event.choice or ""
    category = choice.removeprefix("cat:")
    if not choice.startswith("cat:") or category not in CATEGORIES:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("report:category")
        return
    report = report_data(ctx)
    report["category"] = category
    if report.get("editing"):
        ctx.goto("report:summary")
    elif report.get("consumer_id") or report.get("latitude") is not None:
        ctx.goto("report:photos")
    else:
        ctx.goto("report:target")


def _photo_buttons(ctx: DialogContext) -> list[list]:
    return [[ctx.choice("photos:done", "report.photos_done")], menu_button(ctx)]


@prompt("report:photos")
async def ask_photos(ctx: DialogContext) -> None:
    """Asks for one to five photos and offers a Done button."""
    ctx.say(
        ctx.t("report.ask_photos", max=ctx.settings.photos.max_per_complaint),
        ask=Ask.PHOTO,
        choices=_photo_buttons(ctx),
    )


@on("report:photos")
async def got_photos(ctx: DialogContext) -> None:
    """Stores each acceptable photo; on Done (with at least one) asks for the note."""
    report = report_data(ctx)
    photos: list[dict] = report.setdefault("photos", [])
    limits = ctx.settings.photos
    if ctx.event.choice == "photos:done":
        if len(photos) < max(1, limits.min_per_complaint):
            ctx.say(ctx.t("report.photos_needed"), ask=Ask.PHOTO, choices=_photo_buttons(ctx))
            return
        ctx.goto("report:summary" if report.get("editing") else "report:note")
        return
    if not ctx.photos:
        ctx.say(ctx.t("report.photo_reminder"), ask=Ask.PHOTO, choices=_photo_buttons(ctx))
        return
    for outcome in ctx.photos:
        if outcome.rejected is not None:
            ctx.say(ctx.t(f"report.photo_rejected_{outcome.rejected}", limit_mb=limits.max_bytes // (1024 * 1024)))
            continue
        stored = outcome.stored
        assert stored is not None
        if any(p["content_hash"] == stored.content_hash for p in photos):
            ctx.say(ctx.t("report.photo_duplicate"))
            continue
        if len(photos) >= limits.max_per_complaint:
            break
        photos.append(
            {
                "content_hash": stored.content_hash,
                "path": stored.path,
                "width": stored.width,
                "height": stored.height,
                "size_bytes": stored.size_bytes,
                "perceptual_hash": stored.perceptual_hash,
            }
        )
    if len(photos) >= limits.max_per_complaint:
        ctx.say(ctx.t("report.photos_full", max=limits.max_per_complaint))
        ctx.goto("report:summary" if report.get("editing") else "report:note")
    elif photos:
        ctx.say(
            ctx.t("report.photo_received", count=len(photos), max=limits.max_per_complaint),
            choices=_photo_buttons(ctx),
        )
    else:
        ctx.say(ctx.t("report.photo_reminder"), ask=Ask.PHOTO, choices=_photo_buttons(ctx))


@prompt("report:note")
async def ask_note(ctx: DialogContext) -> None:
    """Asks for an optional note, with a Skip button."""
    ctx.say(ctx.t("report.ask_note", max=NOTE_MAX), choices=[[ctx.choice("note:skip", "report.note_skip")]])


@on("report:note", takes_text=True)
async def got_note(ctx: DialogContext) -> None:
    """Stores the note (or none) and shows the summary."""
    report = report_data(ctx)
    if ctx.event.choice == "note:skip":
        report.pop("note", None)
        ctx.goto("report:summary")
        return
    text = (ctx.event.text or "").strip()
    if not text:
        ctx.say(ctx.t("report.note_reminder"), choices=[[ctx.choice("note:skip", "report.note_skip")]])
        return
    if len(text) > NOTE_MAX:
        ctx.say(
            ctx.t("report.note_too_long", length=len(text), max=NOTE_MAX),
            choices=[[ctx.choice("note:skip", "report.note_skip")]],
        )
        return
    report["note"] = text
    ctx.goto("report:summary")


def _target_text(ctx: DialogContext) -> str:
    report = report_data(ctx)
    if report.get("ivrs"):
        return str(report["ivrs"])
    if report.get("latitude") is not None:
        return ctx.t("report.target_by_location", lat=f"{report['latitude']:.5f}", lon=f"{report['longitude']:.5f}")
    return ctx.t("report.target_unknown")


@prompt("report:duplicate")
async def offer_to_follow(ctx: DialogContext) -> None:
    """Shows open complaints that look like this one and offers to follow one instead of filing again."""
    report = report_data(ctx)
    similar = [await ctx.complaints.get(int(cid)) for cid in report.get("similar", [])]
    lines = [ctx.t("report.duplicate_found")]
    rows = []
    for complaint in similar:
        if complaint is None:
            continue
        lines.append(
            f"• {complaint.public_id} · {category_label(ctx, complaint.category)} · "
            f"{status_text(ctx, complaint.status, complaint.outcome)}"
        )
        label = ctx.t("report.duplicate_follow", public_id=complaint.public_id)
        rows.append([Choice(f"dup:follow:{complaint.id}", label)])
    rows.append([ctx.choice("dup:file", "report.duplicate_file")])
    ctx.say("\n".join(lines), choices=rows)


@on("report:duplicate")
async def got_duplicate_answer(ctx: DialogContext) -> None:
    """Follows the chosen complaint (filing nothing), or goes on to the summary to file anyway."""
    report = report_data(ctx)
    choice = ctx.event.choice or ""
    if choice == "dup:file":
        report["similar_seen"] = True
        ctx.goto("report:summary")
        return
    if choice.startswith("dup:follow:") and choice[11:].isdigit() and int(choice[11:]) in report.get("similar", []):
        complaint = await ctx.complaints.get(int(choice[11:]))
        if complaint is not None:
            if complaint.citizen_id != ctx.citizen.id:
                await ctx.complaints.follow(complaint.id, ctx.citizen.id)
            ctx.say(ctx.t("report.duplicate_following", public_id=complaint.public_id))
            ctx.reset(IDLE)
            return
    ctx.say(ctx.t("report.reminder_choice"))
    ctx.goto("report:duplicate")


@prompt("report:summary")
async def show_summary(ctx: DialogContext) -> None:
    """Shows everything collected and asks to submit, edit or cancel (after any look-alike complaints)."""
    report = report_data(ctx)
    report.pop("editing", None)
    if not report.get("similar_seen"):
        similar = await ctx.complaints.similar_open(
            ivrs=report.get("ivrs"),
            category=report["category"],
            latitude=report.get("latitude"),
            longitude=report.get("longitude"),
        )
        report["similar_seen"] = True
        if similar:
            report["similar"] = [complaint.id for complaint in similar[:3]]
            ctx.goto("report:duplicate")
            return
    ctx.say(
        ctx.t(
            "report.summary",
            category=category_label(ctx, report["category"]),
            target=_target_text(ctx),
            photos=len(report.get("photos", [])),
            note=report.get("note") or ctx.t("report.no_note"),
        ),
        choices=[
            [ctx.choice("summary:submit", "report.confirm")],
            [ctx.choice("summary:edit", "report.edit"), ctx.choice("summary:cancel", "report.cancel")],
        ],
    )


@on("report:summary")
async def got_summary_answer(ctx: DialogContext) -> None:
    """Files the complaint, opens the edit menu, or cancels."""
    choice = ctx.event.choice
    if choice == "summary:submit":
        await _file(ctx)
    elif choice == "summary:edit":
        ctx.goto("report:edit")
    elif choice == "summary:cancel":
        ctx.say(ctx.t("menu.cancelled"))
        ctx.reset(IDLE)
    else:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("report:summary")


@prompt("report:edit")
async def ask_what_to_edit(ctx: DialogContext) -> None:
    """Asks which part of the complaint to change."""
    ctx.say(
        ctx.t("report.ask_edit"),
        choices=[
            [ctx.choice("edit:category", "report.edit_category"), ctx.choice("edit:target", "report.edit_target")],
            [ctx.choice("edit:photos", "report.edit_photos"), ctx.choice("edit:note", "report.edit_note")],
        ],
    )


@on("report:edit")
async def got_edit_choice(ctx: DialogContext) -> None:
    """Sends the citizen back to the chosen step; the summary follows it."""
    report = report_data(ctx)
    targets = {
        "edit:category": "report:category",
        "edit:target": "report:target",
        "edit:photos": "report:photos",
        "edit:note": "report:note",
    }
    step = targets.get(ctx.event.choice or "")
    if step is None:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("report:edit")
        return
    report["editing"] = True
    if step in ("report:category", "report:target"):
        report.pop("similar_seen", None)  # a different complaint may now look alike
    if step == "report:photos":
        report["photos"] = []
    if step == "report:target":
        clear_target(report)
    ctx.goto(step)


async def _file(ctx: DialogContext) -> None:
    limited = await filing_limit(ctx)
    if limited:
        ctx.say(limited)  # the report stays as it is, ready to submit later
        ctx.goto("report:summary")
        return
    report = report_data(ctx)
    consumer = await ctx.consumers.get(int(report["consumer_id"])) if report.get("consumer_id") else None
    district = consumer.district if consumer is not None else None
    if district is None and report.get("latitude") is not None:
        page = await ctx.consumers.nearby(report["latitude"], report["longitude"], ctx.settings.nearby.radius_m, 0, 1)
        district = page.items[0].consumer.district if page.items else None
    complaint = await ctx.complaints.create(
        citizen_id=ctx.citizen.id,
        category=report["category"],
        channel=ctx.event.channel,
        photos=[NewPhoto(**photo) for photo in report.get("photos", [])],
        consumer_id=consumer.id if consumer is not None else None,
        target_ivrs=consumer.ivrs if consumer is not None else None,
        latitude=report.get("latitude", consumer.latitude if consumer is not None else None),
        longitude=report.get("longitude", consumer.longitude if consumer is not None else None),
        district=district,
        note=report.get("note"),
    )
    await route_complaint(ctx.session, ctx.settings, complaint)
    ctx.say(ctx.t("report.filed", public_id=complaint.public_id))
    ctx.reset(IDLE)
