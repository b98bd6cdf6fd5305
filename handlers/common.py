"""Shared pieces of the flows: categories, formatting of consumers, distances, dates and locations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.dialog import DialogContext
from bot.events import Ask, Choice, Location, LocationSource
from bot.service_area import service_area_for
from storage.models import Consumer

IST = ZoneInfo("Asia/Kolkata")

# The irregularities citizens can report (SEED.md), in menu order.
CATEGORIES = (
    "theft",
    "meter_tampering",
    "illegal_connection",
    "illegal_extension",
    "multiple_connections",
    "unauthorised_extension",
    "excess_load",
)


def category_label(ctx: DialogContext, category: str) -> str:
    return ctx.t(f"categories.{category}")


def load_text(ctx: DialogContext, load_kw: float | None) -> str:
    if load_kw is None:
        return ctx.t("units.unknown")
    return ctx.t("units.kw", value=f"{load_kw:g}")


def distance_text(ctx: DialogContext, metres: float) -> str:
    if metres < 1000:
        return ctx.t("units.metres", value=round(metres))
    return ctx.t("units.kilometres", value=f"{metres / 1000:.1f}")


def date_text(ctx: DialogContext, moment: datetime) -> str:
    local = moment.astimezone(IST)
    month = ctx.t("dates.months").split(",")[local.month - 1]
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


def consumer_card(ctx: DialogContext, consumer: Consumer) -> str:
    """The consumer's public details: IVRS, address, district, category, load (never the name)."""
    unknown = ctx.t("units.unknown")
    return ctx.t(
        "report.consumer_card",
        ivrs=consumer.ivrs,
        address=consumer.address or unknown,
        district=consumer.district or unknown,
        category=consumer.category or unknown,
        load=load_text(ctx, consumer.sanctioned_load_kw),
    )


def menu_button(ctx: DialogContext) -> list[Choice]:
    return [ctx.choice("menu:home", "menu.back")]


def ask_location(ctx: DialogContext, text_key: str, **values: object) -> None:
    """Ask for a GPS location with the channel's native location button."""
    ctx.say(
        ctx.t(text_key, **values),
        ask=Ask.LOCATION,
        ask_label=ctx.t("report.location_button"),
        choices=[menu_button(ctx)],
    )


@dataclass(frozen=True)
class LocationProblem:
    """Why a location cannot be used: the message key and its values."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


def location_problem(ctx: DialogContext, location: Location, *, evidence: bool) -> LocationProblem | None:
    """Why this location cannot be used, or None when it is fine.

    Evidence for a complaint must be GPS; the web chat demo may use map clicks or typed
    coordinates for browsing only. The place must lie in a served district (bot/service_area.py:
    the district boundaries when configured, otherwise the bounding box).
    """
    if evidence and location.source is not LocationSource.GPS and ctx.event.channel != "webchat":
        return LocationProblem("report.location_not_gps")
    place = service_area_for(ctx.settings.service_area).place(location.latitude, location.longitude)
    if place.served:
        return None
    if place.district:
        return LocationProblem("report.location_unserved_district", {"district": place.district})
    return LocationProblem("report.location_outside")
