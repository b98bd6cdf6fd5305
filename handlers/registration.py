"""Registration: language, the terms, and the citizen's own mobile number; no documents.

    reg:language --lang--> reg:terms --agree--> reg:contact --own contact--> (pending report | menu)
                                     --decline--> menu
    On WhatsApp the number is already verified, so reg:terms registers directly.
"""

from __future__ import annotations

from bot.dialog import IDLE, DialogContext, on, prompt
from bot.events import Ask, Choice
from bot.phones import normalise_mobile

LANGUAGE_CHOICES = [[Choice("lang:hi", "हिन्दी"), Choice("lang:en", "English")]]


@prompt("reg:language")
async def ask_language(ctx: DialogContext) -> None:
    """Asks for the language, in both languages."""
    ctx.say(ctx.t("language.ask"), choices=LANGUAGE_CHOICES)


@on("reg:language")
async def got_language(ctx: DialogContext) -> None:
    """Stores the language and shows the terms (or returns to the menu when only switching)."""
    choice = ctx.event.choice or ""
    if not choice.startswith("lang:") or choice[5:] not in ("hi", "en"):
        ctx.goto("reg:language")
        return
    await ctx.citizens.set_language(ctx.citizen, choice[5:])
    ctx.say(ctx.t("language.set"))
    if ctx.data.pop("language_only", False) or ctx.citizen.registered_at is not None or ctx.officer is not None:
        ctx.goto(IDLE)
    else:
        ctx.goto("reg:terms")


@prompt("reg:terms")
async def show_terms(ctx: DialogContext) -> None:
    """Shows the terms in a few lines and asks for agreement."""
    helpline = ctx.settings.helpline
    ctx.say(
        ctx.t("registration.terms", helpline=helpline.phone, nidaan=helpline.nidaan_url),
        choices=[[ctx.choice("reg:agree", "registration.agree"), ctx.choice("reg:decline", "registration.decline")]],
    )


@on("reg:terms")
async def got_terms(ctx: DialogContext) -> None:
    """On agreement asks for the phone number (or registers a channel-verified number at once)."""
    if ctx.event.choice == "reg:decline":
        ctx.say(ctx.t("registration.declined"))
        ctx.reset(IDLE)
    elif ctx.event.choice == "reg:agree":
        verified = normalise_mobile(ctx.event.verified_phone) if ctx.event.verified_phone else None
        if verified:
            await _complete(ctx, verified)
        else:
            ctx.goto("reg:contact")
    else:
        ctx.say(ctx.t("report.reminder_choice"))
        ctx.goto("reg:terms")


@prompt("reg:contact")
async def ask_contact(ctx: DialogContext) -> None:
    """Asks for the citizen's own number through the share-contact button."""
    ctx.say(ctx.t("registration.ask_contact"), ask=Ask.CONTACT, ask_label=ctx.t("registration.contact_button"))


@on("reg:contact")
async def got_contact(ctx: DialogContext) -> None:
    """Registers the citizen with their own, valid mobile number."""
    contact = ctx.event.contact
    if contact is None:
        ctx.say(ctx.t("registration.contact_reminder"), ask=Ask.CONTACT, ask_label=ctx.t("registration.contact_button"))
        return
    if not contact.is_own:
        ctx.say(ctx.t("registration.contact_not_own"), ask=Ask.CONTACT, ask_label=ctx.t("registration.contact_button"))
        return
    phone = normalise_mobile(contact.phone)
    if phone is None:
        ctx.say(ctx.t("registration.contact_invalid"), ask=Ask.CONTACT, ask_label=ctx.t("registration.contact_button"))
        return
    await _complete(ctx, phone)


async def _complete(ctx: DialogContext, phone: str) -> None:
    await ctx.citizens.register_phone(ctx.identity, phone)
    ctx.say(ctx.t("registration.done"))
    after = ctx.data.pop("after_registration", None)
    ctx.goto(after if isinstance(after, str) else IDLE)
