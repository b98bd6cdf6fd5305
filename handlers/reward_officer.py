"""Officer buttons on a reward notice: record an appeal, then decide it.

    reward notice [rw:appeal] --> held, complainant told --> [rw:release] --> due, paid at once
                                                         --> [rw:cancel]  --> cancelled, complainant told

Only the inspector who confirmed the finding and the district's supervisors may press them; an
old button on a reward that moved on says so and changes nothing.
"""

from __future__ import annotations

from bot.dialog import DialogContext
from bot.rewards.appeals import AppealRefused, decide_appeal, may_decide, record_appeal
from bot.rewards.notices import appeal_buttons, rupees
from handlers.officer import EXTRA_OFFICER_ROUTES
from storage.models import Complaint
from storage.repositories import RewardRepository

ACTIONS = ("appeal", "release", "cancel")


async def reward_route(ctx: DialogContext) -> bool:
    """Handles the rw:<action>:<reward id> buttons; returns False for anything else."""
    choice = ctx.event.choice or ""
    if not choice.startswith("rw:"):
        return False
    _, action, reward_id = [*choice.split(":"), "", ""][:3]
    officer = ctx.officer
    reward = await RewardRepository(ctx.session).get(int(reward_id)) if reward_id.isdigit() else None
    if officer is None or reward is None or action not in ACTIONS:
        ctx.say(ctx.t("officer.stale"))
        return True
    if not await may_decide(ctx.session, officer, reward):
        ctx.say(ctx.t("rewards.officer_not_allowed"))
        return True
    complaint = await ctx.session.get(Complaint, reward.complaint_id)
    public_id = complaint.public_id if complaint else "?"
    actor = f"officer:{officer.id}"
    try:
        if action == "appeal":
            reward = await record_appeal(ctx.session, reward.id, actor=actor)
            key = "rewards.officer_held"
        else:
            reward = await decide_appeal(ctx.session, reward.id, for_company=action == "release", actor=actor)
            key = "rewards.officer_released" if action == "release" else "rewards.officer_cancelled"
    except AppealRefused as refused:
        state = refused.reward.state if refused.reward is not None else "due"
        state = "due" if state == "scheduled" else state  # refused while scheduled: its window has passed
        ctx.say(ctx.t("rewards.officer_refused", public_id=public_id, state=ctx.t(f"rewards.state_{state}")))
        return True
    amount = rupees(reward.amount_paise)
    ctx.say(ctx.t(key, public_id=public_id, amount=amount), choices=appeal_buttons(ctx.language, reward))
    return True


if reward_route not in EXTRA_OFFICER_ROUTES:
    EXTRA_OFFICER_ROUTES.append(reward_route)
