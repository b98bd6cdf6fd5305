"""Report, part 2: who is accused, by IVRS number or by the informant's GPS location.

    report:target --ivrs--> report:ivrs --found--> report:consumer --yes--> photos
                                        --unknown--> (type again | report:location)
                  --location--> report:location --> report:pick --(consumer | not sure)--> photos
"""

from __future__ import annotations

from typing import Any

from bot.dialog import DialogContext, on, prompt
from bot.events import Choice
from handlers.common import ask_location, consumer_card, distance_text, location_problem, menu_button
from storage.repositories.consumers import normalise_ivrs

PICK_LIMIT = 5


def report_data(ctx: DialogContext) -> dict[str, Any]:
    data = ctx.data.setdefault("report", {})
    assert isinstance(data, dict)
    return data


def after_target(ctx: DialogContext) -> None:
    """Continues to the photos, or back to the summary when the citizen was editing."""
    report = report_data(ctx)
    ctx.goto("report:summary" if report.get("photos") and report.get("editing") else "report:photos")


def clear_target(report: dict[str, Any]) -> None:
    for key in ("consumer_id", "ivrs", "latitude", "longitude"):
        report.pop(key, None)


@prompt("report:target")
async def ask_target(ctx: DialogContext) -> None:
    """Asks whether the citizen knows the accused consumer's IVRS number."""
    ctx.say(
        ctx.t("report.ask_target"),
        choices=[
            [ctx.choice("target:ivrs", "report.target_ivrs")],
            [ctx.choice("target:location", "report.target_location")],
            menu_button(ctx),
        ],
    )


@on("report:target")
async def got_target_way(ctx: DialogContext) -> None:
    """Goes to the IVRS question or to the location question."""
    if ctx.event.choice == "target:ivrs":
        ctx.goto("report:ivrs")
    elif ctx.event.choice == "target:location":
        ctx.goto("report:location")
    else:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("report:target")


@prompt("report:ivrs")
async def ask_ivrs(ctx: DialogContext) -> None:
    """Asks for the IVRS number."""
    ctx.say(ctx.t("report.ask_ivrs"), choices=[[ctx.choice("target:location", "report.use_location")]])


@on("report:ivrs", takes_text=True)
async def got_ivrs(ctx: DialogContext) -> None:
    """Validates the IVRS loosely, looks it up and asks to confirm the consumer found."""
    if ctx.event.choice == "target:location":
        ctx.goto("report:location")
        return
    text = (ctx.event.text or "").strip()
    if not text:
        ctx.goto("report:ivrs")
        return
    ivrs = normalise_ivrs(text)
    if ivrs is None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        ctx.say(
            ctx.t("report.ivrs_invalid", text=shown),
            choices=[[ctx.choice("target:location", "report.use_location")]],
        )
        return
    consumer = await ctx.consumers.by_ivrs(ivrs)
    if consumer is None:
        ctx.say(
            ctx.t("report.ivrs_unknown", ivrs=ivrs),
            choices=[
                [ctx.choice("target:location", "report.use_location")],
                [ctx.choice("target:ivrs", "report.ivrs_retry")],
            ],
        )
        return
    report = report_data(ctx)
    report["candidate_id"] = consumer.id
    ctx.goto("report:consumer")


@prompt("report:consumer")
async def confirm_consumer(ctx: DialogContext) -> None:
    """Shows the consumer's public details and asks whether it is the right one."""
    consumer = await ctx.consumers.get(int(report_data(ctx)["candidate_id"]))
    if consumer is None:
        ctx.goto("report:ivrs")
        return
    ctx.say(
        ctx.t("report.confirm_consumer", card=consumer_card(ctx, consumer)),
        choices=[[ctx.choice("consumer:yes", "report.consumer_yes"), ctx.choice("consumer:no", "report.consumer_no")]],
    )


@on("report:consumer")
async def got_consumer_confirmation(ctx: DialogContext) -> None:
    """Pins the confirmed consumer as the target, or asks for the IVRS again."""
    report = report_data(ctx)
    if ctx.event.choice == "consumer:yes":
        consumer = await ctx.consumers.get(int(report.pop("candidate_id")))
        if consumer is None:
            ctx.goto("report:ivrs")
            return
        clear_target(report)
        report.update(consumer_id=consumer.id, ivrs=consumer.ivrs)
        after_target(ctx)
    elif ctx.event.choice in ("consumer:no", "target:ivrs"):
        report.pop("candidate_id", None)
        ctx.goto("report:ivrs")
    else:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("report:consumer")


@prompt("report:location")
async def ask_report_location(ctx: DialogContext) -> None:
    """Asks for the citizen's GPS location with the location button."""
    ask_location(ctx, "report.ask_location")


@on("report:location")
async def got_report_location(ctx: DialogContext) -> None:
    """Stores a GPS location inside the service area and offers the nearest consumers."""
    location = ctx.event.location
    if location is None:
        ask_location(ctx, "report.location_reminder")
        return
    problem = location_problem(ctx, location, evidence=True)
    if problem:
        ask_location(ctx, problem.key, **problem.values)
        return
    report = report_data(ctx)
    clear_target(report)
    report.update(latitude=location.latitude, longitude=location.longitude)
    ctx.goto("report:pick")


@prompt("report:pick")
async def offer_nearest(ctx: DialogContext) -> None:
    """Lists the nearest consumers as buttons, plus "not sure"."""
    report = report_data(ctx)
    radius = ctx.settings.nearby.radius_m
    page = await ctx.consumers.nearby(report["latitude"], report["longitude"], radius, 0, PICK_LIMIT)
    if not page.items:
        ctx.say(ctx.t("report.no_consumers_near", radius=radius))
        after_target(ctx)
        return
    rows = [
        [Choice(f"pick:{hit.consumer.id}", f"{hit.consumer.ivrs} · {distance_text(ctx, hit.distance_m)}")]
        for hit in page.items
    ]
    rows.append([ctx.choice("pick:none", "report.pick_none")])
    lines = [ctx.t("report.pick_target")]
    lines += [
        f"{n}. {hit.consumer.ivrs} · {distance_text(ctx, hit.distance_m)} · {hit.consumer.address or ''}".rstrip(" ·")
        for n, hit in enumerate(page.items, 1)
    ]
    ctx.say("\n".join(lines), choices=rows)


@on("report:pick")
async def got_pick(ctx: DialogContext) -> None:
    """Pins the picked consumer (or none) and continues to the photos."""
    choice = ctx.event.choice or ""
    report = report_data(ctx)
    if choice == "pick:none":
        report.pop("consumer_id", None)
        report.pop("ivrs", None)
        after_target(ctx)
        return
    if choice.startswith("pick:") and choice[5:].isdigit():
        consumer = await ctx.consumers.get(int(choice[5:]))
        if consumer is not None:
            report.update(consumer_id=consumer.id, ivrs=consumer.ivrs)
            after_target(ctx)
            return
    ctx.say(ctx.t("report.reminder_choice"))
    ctx.goto("report:pick")
