"""The main menu and the global commands that work from any step (/start, /cancel, /help, ...).

    any step --/cancel--> menu          any step --/help--> guide, then the same step again
    menu --report--> [registration] --> report:category
    menu --nearby--> nearby:location    menu --status--> status:list
    menu --bank--> [registration] --> bank:show
"""

from __future__ import annotations

from bot.dialog import IDLE, STEPS, DialogContext, on, prompt
from handlers.bank import start_bank
from handlers.officer import officer_route
from handlers.privacy import export_my_data
from handlers.redirect import is_grievance, send_redirect
from handlers.stats import show_stats


@prompt(IDLE)
async def show_menu(ctx: DialogContext) -> None:
    """Shows the main menu buttons (officers get their own menu)."""
    if ctx.officer is not None:
        ctx.goto("officer:menu")
        return
    title = "menu.title" if ctx.citizen.registered_at else "menu.title_unregistered"
    ctx.say(
        ctx.t(title),
        choices=[
            [ctx.choice("menu:report", "menu.report")],
            [ctx.choice("menu:nearby", "menu.nearby"), ctx.choice("menu:status", "menu.status")],
            [ctx.choice("menu:bank", "menu.bank")],
            [ctx.choice("menu:help", "menu.help"), ctx.choice("menu:language", "menu.language")],
        ],
    )


@on(IDLE)
async def at_menu(ctx: DialogContext) -> None:
    """Anything typed at the menu that is not a command: points to the buttons again."""
    if ctx.event.text and is_grievance(ctx.event.text):
        send_redirect(ctx)
        return
    ctx.say(ctx.t("menu.not_understood"))
    ctx.goto(IDLE)


def start_report(ctx: DialogContext) -> None:
    """Begins a report, sending an unregistered citizen through registration first."""
    preset = ctx.data.get("report") if ctx.data.get("report_preset") else None
    ctx.data.pop("report_preset", None)
    ctx.data["report"] = dict(preset) if isinstance(preset, dict) else {}
    if ctx.citizen.registered_at is None:
        ctx.data["after_registration"] = "report:category"
        ctx.say(ctx.t("registration.needed"))
        ctx.goto("reg:language")
        return
    ctx.goto("report:category")


async def route(ctx: DialogContext) -> bool:
    """Handles what works at every step; returns False to let the current step handle the event."""
    event = ctx.event
    if ctx.citizen.blocked and ctx.officer is None:
        ctx.say(ctx.t("menu.blocked", helpline=ctx.settings.helpline.phone))
        return True
    action = event.command
    if action is None and event.choice and event.choice.startswith("menu:"):
        action = event.choice.removeprefix("menu:")
    if action is not None:
        if ctx.officer is not None:
            run_officer_action(ctx, action)
        else:
            run_action(ctx, action)
        if action == "stats":
            await show_stats(ctx)
        elif action == "mydata" and ctx.officer is None:
            await export_my_data(ctx)
        return True
    if ctx.officer is not None and await officer_route(ctx):
        return True
    if event.unsupported:
        ctx.say(ctx.t("input.unsupported", kind=event.unsupported))
        ctx.goto(ctx.step)
        return True
    offered = ctx.data.get("_choices")
    if event.choice and isinstance(offered, list) and event.choice not in {p for p, _ in offered}:
        ctx.say(ctx.t("report.stale_button"))
        ctx.goto(ctx.step)
        return True
    if ctx.step != IDLE and event.text and not STEPS[ctx.step].takes_text and is_grievance(event.text):
        send_redirect(ctx)
        ctx.goto(ctx.step)
        return True
    return False


def run_action(ctx: DialogContext, action: str) -> None:
    """Runs a global command or main-menu button."""
    if action == "start":
        ctx.data.clear()
        ctx.goto("reg:language" if ctx.citizen.registered_at is None else IDLE)
    elif action in ("home", "menu"):
        ctx.reset(IDLE)
    elif action == "cancel":
        ctx.data.clear()
        ctx.say(ctx.t("menu.cancelled"))
        ctx.goto(IDLE)
    elif action == "help":
        helpline = ctx.settings.helpline
        ctx.say(ctx.t("guide.text", helpline=helpline.phone, nidaan=helpline.nidaan_url))
        ctx.goto(ctx.step)
    elif action == "language":
        ctx.data["language_only"] = True
        ctx.goto("reg:language")
    elif action == "status":
        ctx.goto("status:list")
    elif action == "report":
        start_report(ctx)
    elif action in ("stats", "mydata"):
        ctx.goto(ctx.step)
    elif action == "deleteme":
        ctx.goto("privacy:erase" if ctx.citizen.registered_at else IDLE)
    elif action == "nearby":
        ctx.data.pop("nearby", None)
        ctx.goto("nearby:location")
    elif action == "bank":
        start_bank(ctx)
    else:
        ctx.say(ctx.t("menu.not_understood"))
        ctx.goto(ctx.step)


def run_officer_action(ctx: DialogContext, action: str) -> None:
    """Commands for officers: their menu, their guide, the language; citizen flows are not offered."""
    if action == "help":
        ctx.say(ctx.t("officer.guide"))
        ctx.goto(ctx.step)
    elif action == "language":
        ctx.data["language_only"] = True
        ctx.goto("reg:language")
    elif action == "stats":
        ctx.goto(ctx.step)
    else:
        ctx.data.clear()
        ctx.goto("officer:menu")
