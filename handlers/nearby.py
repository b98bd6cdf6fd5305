"""Nearby: every consumer within the configured radius of the citizen, ten a page.

    nearby:location --GPS location--> nearby:list --next/previous--> nearby:list
                                                  --number--> report (against that consumer)
"""

from __future__ import annotations

from typing import Any

from bot.dialog import DialogContext, on, prompt
from bot.events import Choice
from handlers.common import ask_location, distance_text, load_text, location_problem, menu_button
from handlers.menu import start_report


def _state(ctx: DialogContext) -> dict[str, Any]:
    state = ctx.data.setdefault("nearby", {})
    assert isinstance(state, dict)
    return state


@prompt("nearby:location")
async def ask_nearby_location(ctx: DialogContext) -> None:
    """Asks for the citizen's current location."""
    ask_location(ctx, "nearby.ask_location", radius=ctx.settings.nearby.radius_m)


@on("nearby:location")
async def got_nearby_location(ctx: DialogContext) -> None:
    """Stores the location (inside the service area) and shows the first page."""
    location = ctx.event.location
    if location is None:
        ask_location(ctx, "report.location_reminder")
        return
    problem = location_problem(ctx, location, evidence=False)
    if problem:
        ask_location(ctx, problem.key, **problem.values)
        return
    ctx.data["nearby"] = {"lat": location.latitude, "lon": location.longitude, "page": 0}
    ctx.goto("nearby:list")


@prompt("nearby:list")
async def show_page(ctx: DialogContext) -> None:
    """Shows one page of consumers, nearest first, with paging and report buttons."""
    state = _state(ctx)
    settings = ctx.settings.nearby
    page = await ctx.consumers.nearby(state["lat"], state["lon"], settings.radius_m, state["page"], settings.page_size)
    if page.total == 0:
        ctx.say(
            ctx.t("nearby.none", radius=settings.radius_m),
            choices=[[ctx.choice("nb:again", "nearby.new_location")], menu_button(ctx)],
        )
        return
    if not page.items:  # the register changed under an old page number
        state["page"] = 0
        ctx.goto("nearby:list")
        return
    unknown = ctx.t("units.unknown")
    first = page.page * page.page_size
    lines = [
        ctx.t(
            "nearby.header",
            radius=settings.radius_m,
            page=page.page + 1,
            pages=page.pages,
            total=page.total,
        )
    ]
    for n, hit in enumerate(page.items, first + 1):
        consumer = hit.consumer
        lines.append(
            ctx.t(
                "nearby.item",
                n=n,
                ivrs=consumer.ivrs,
                distance=distance_text(ctx, hit.distance_m),
                address=consumer.address or unknown,
                category=consumer.category or unknown,
                load=load_text(ctx, consumer.sanctioned_load_kw),
            )
        )
    lines.append(ctx.t("nearby.pick_hint"))
    numbers = [Choice(f"nb:pick:{hit.consumer.id}", str(n)) for n, hit in enumerate(page.items, first + 1)]
    rows = [numbers[i : i + 5] for i in range(0, len(numbers), 5)]
    paging = []
    if page.has_previous:
        paging.append(Choice(f"nb:page:{page.page - 1}", ctx.t("nearby.previous")))
    if page.has_next:
        paging.append(Choice(f"nb:page:{page.page + 1}", ctx.t("nearby.next")))
    if paging:
        rows.append(paging)
    rows.append([ctx.choice("nb:again", "nearby.new_location"), *menu_button(ctx)])
    ctx.say("\n".join(lines), choices=rows)


@on("nearby:list")
async def got_list_action(ctx: DialogContext) -> None:
    """Turns the page, asks for a new location, or starts a report against the picked consumer."""
    choice = ctx.event.choice or ""
    state = _state(ctx)
    if choice.startswith("nb:page:") and choice[8:].isdigit():
        state["page"] = int(choice[8:])
        ctx.goto("nearby:list")
    elif choice == "nb:again":
        ctx.data.pop("nearby", None)
        ctx.goto("nearby:location")
    elif choice.startswith("nb:pick:") and choice[8:].isdigit():
        consumer = await ctx.consumers.get(int(choice[8:]))
        if consumer is None:
            ctx.goto("nearby:list")
            return
        ctx.data["report"] = {
            "consumer_id": consumer.id,
            "ivrs": consumer.ivrs,
            "latitude": state.get("lat"),
            "longitude": state.get("lon"),
        }
        ctx.data["report_preset"] = True
        ctx.data.pop("nearby", None)
        start_report(ctx)
    else:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("nearby:list")
