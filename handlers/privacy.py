"""A citizen's own data: /mydata exports it, /deleteme erases it (complaints stay, anonymised).

    /mydata --> everything stored about the citizen, in one message
    /deleteme --> privacy:erase --yes--> phone, bank details, channel links and dialog erased --> menu
                                --no--> menu
"""

from __future__ import annotations

from sqlalchemy import delete, update

from bot.dialog import IDLE, DialogContext, on, prompt
from handlers.common import category_label, date_text
from handlers.status import status_text
from storage.models import ChannelIdentity, Citizen, Complaint, DialogState, Reward, utcnow
from storage.repositories import AuditRepository

# Everything on the citizen row that identifies a person.
_PERSONAL_COLUMNS = [
    name
    for name in ("phone", "bank_account_encrypted", "bank_last4", "bank_holder_encrypted", "bank_ifsc_encrypted")
    if name in Citizen.__table__.columns
]


async def export_my_data(ctx: DialogContext) -> None:
    """Shows the citizen everything the bot keeps about them (bank account masked)."""
    citizen = ctx.citizen
    identities = await ctx.citizens.identities_of(citizen.id)
    complaints = await ctx.complaints.of_citizen(citizen.id, limit=1000)
    lines = [
        ctx.t("privacy.export_header"),
        ctx.t("privacy.phone", phone=citizen.phone or "—"),
        ctx.t("privacy.language", name="हिन्दी" if citizen.language == "hi" else "English"),
        ctx.t("privacy.registered", date=date_text(ctx, citizen.registered_at) if citizen.registered_at else "—"),
        ctx.t("privacy.channels", channels=", ".join(f"{i.channel}" for i in identities)),
        ctx.t("privacy.bank", account=f"XXXXXX{citizen.bank_last4}" if citizen.bank_last4 else "—"),
        ctx.t("privacy.complaints", count=len(complaints)),
    ]
    for complaint in complaints:
        lines.append(
            f"• {complaint.public_id} · {category_label(ctx, complaint.category)} · "
            f"{status_text(ctx, complaint.status, complaint.outcome)} · {date_text(ctx, complaint.created_at)}"
            + (f"\n  {complaint.note}" if complaint.note else "")
        )
    ctx.say("\n".join(lines))
    await AuditRepository(ctx.session).record("citizen", "citizen.export", str(citizen.id))


@prompt("privacy:erase")
async def ask_erase(ctx: DialogContext) -> None:
    """Explains what erasing keeps and removes, and asks for confirmation."""
    ctx.say(
        ctx.t("privacy.erase_ask"),
        choices=[[ctx.choice("erase:yes", "privacy.erase_yes"), ctx.choice("erase:no", "privacy.erase_no")]],
    )


@on("privacy:erase")
async def got_erase_answer(ctx: DialogContext) -> None:
    """Erases the citizen's personal data on "yes"; anything else keeps it."""
    if ctx.event.choice != "erase:yes":
        ctx.say(ctx.t("privacy.erase_kept"))
        ctx.reset(IDLE)
        return
    await erase_citizen(ctx)
    ctx.say(ctx.t("privacy.erased"))
    ctx.data.clear()
    ctx.settle_at(IDLE)


async def erase_citizen(ctx: DialogContext) -> None:
    """Removes phone, bank details and channel links; complaints stay with no owner; unpaid rewards lapse."""
    citizen_id = ctx.citizen.id
    session = ctx.session
    identities = await ctx.citizens.identities_of(citizen_id)
    keys = [identity.user_key for identity in identities]
    await session.execute(update(Complaint).where(Complaint.citizen_id == citizen_id).values(citizen_id=None))
    await session.execute(
        update(Reward)
        .where(Reward.citizen_id == citizen_id, Reward.state.notin_(("paid", "paying")))
        .values(state="cancelled", citizen_id=None)
    )
    await session.execute(update(Reward).where(Reward.citizen_id == citizen_id).values(citizen_id=None))
    await session.execute(delete(DialogState).where(DialogState.user_key.in_(keys)))
    await session.execute(delete(ChannelIdentity).where(ChannelIdentity.citizen_id == citizen_id))
    values = {column: None for column in _PERSONAL_COLUMNS}
    await session.execute(
        update(Citizen).where(Citizen.id == citizen_id).values(**values, deleted_at=utcnow(), last_identity_id=None)
    )
    await AuditRepository(session).record("citizen", "citizen.erase", str(citizen_id), identities=len(keys))
    session.expunge_all()  # nothing stale may be written back by the engine
