"""/stats: the public audit numbers, for anyone; counts only, never personal data."""

from __future__ import annotations

from collections import defaultdict

from bot.dialog import DialogContext
from handlers.status import status_text
from storage.repositories import RewardRepository
from storage.repositories.complaints import CITIZEN_STATUS


async def show_stats(ctx: DialogContext) -> None:
    """Complaints by status and district, irregularities confirmed, rewards paid."""
    rows = await ctx.complaints.counts_by()
    confirmed_by_district = await ctx.complaints.confirmed_by_district()
    by_status: dict[str, int] = defaultdict(int)
    by_district: dict[str, int] = defaultdict(int)
    for district, status, count in rows:
        by_status[CITIZEN_STATUS.get(status, status)] += count
        by_district[district or ""] += count
    paid_count, paid_paise = await RewardRepository(ctx.session).paid_totals()
    status_lines = [
        ctx.t("stats.status_line", status=status_text(ctx, status, None), count=by_status[status])
        for status in ("pending", "in_process", "complete")
    ]
    district_lines = [
        ctx.t(
            "stats.district_line",
            district=district or ctx.t("stats.unknown_district"),
            count=count,
            confirmed=confirmed_by_district.get(district, 0),
        )
        for district, count in sorted(by_district.items(), key=lambda item: (-item[1], item[0]))
    ]
    ctx.say(
        ctx.t(
            "stats.text",
            total=sum(by_status.values()),
            by_status="\n".join(status_lines),
            confirmed=sum(confirmed_by_district.values()),
            rewards_paid=paid_count,
            rewards_amount=f"{paid_paise / 100:,.0f}",
            by_district="\n".join(district_lines) or "—",
        )
    )
