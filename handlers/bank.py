"""Bank account for rewards: shown masked, entered with the number typed twice, a change confirmed.

    bank:show --(none yet)--> bank:holder --name--> bank:account --digits--> bank:account2
              --change-->     bank:holder           ^                          |  same digits
                                                    +------ they differ -------+
    bank:account2 --> bank:ifsc --valid IFSC--> saved (first account)
                                            --> bank:confirm --yes--> saved | --no--> kept

What the citizen types is kept between steps only as Fernet ciphertext in the dialog state; the
account number is stored encrypted with its last four digits, and only "XXXXXX1234" is ever shown.
Saving releases rewards that were waiting for bank details (or failed on the old ones).
"""

from __future__ import annotations

import logging

from bot.dialog import IDLE, DialogContext, on, prompt
from bot.rewards.bank import BankDetails, clean_account_number, clean_holder, clean_ifsc, save_bank_details
from bot.rewards.crypto import BankCipher, BankKeyMissing, bank_cipher, mask
from bot.rewards.lifecycle import release_waiting
from handlers.common import date_text, menu_button

log = logging.getLogger(__name__)


def _cipher(ctx: DialogContext) -> BankCipher | None:
    try:
        return bank_cipher(ctx.settings)
    except BankKeyMissing as exc:
        log.error("bank details refused: %s", exc)
        ctx.say(ctx.t("bank.unavailable"))
        ctx.reset(IDLE)
        return None


def _entered(ctx: DialogContext) -> dict[str, str]:
    entered = ctx.data.get("bank")
    if not isinstance(entered, dict):
        entered = {}
        ctx.data["bank"] = entered
    return entered


def start_bank(ctx: DialogContext) -> None:
    """The /bank command and the menu button: registration first if needed, then the account."""
    ctx.data.pop("bank", None)
    if ctx.citizen.registered_at is None:
        ctx.data["after_registration"] = "bank:show"
        ctx.say(ctx.t("bank.needs_registration"))
        ctx.goto("reg:language")
        return
    ctx.goto("bank:show")


@prompt("bank:show")
async def show_account(ctx: DialogContext) -> None:
    """Shows the masked account with a change button, or starts adding one."""
    if _cipher(ctx) is None:
        return
    citizen = ctx.citizen
    if citizen.bank_account_encrypted is None:
        ctx.say(ctx.t("bank.none"))
        ctx.goto("bank:holder")
        return
    saved = date_text(ctx, citizen.bank_updated_at) if citizen.bank_updated_at else "—"
    ctx.say(
        ctx.t("bank.current", account=mask(citizen.bank_last4), date=saved),
        choices=[[ctx.choice("bank:change", "bank.change")], menu_button(ctx)],
    )


@on("bank:show")
async def got_show_choice(ctx: DialogContext) -> None:
    """Starts a change of account on the button; anything else shows the account again."""
    if ctx.event.choice == "bank:change":
        ctx.data["bank"] = {}
        ctx.goto("bank:holder")
        return
    ctx.say(ctx.t("bank.use_buttons"))
    ctx.goto("bank:show")


@prompt("bank:holder")
async def ask_holder(ctx: DialogContext) -> None:
    """Asks for the account holder's name."""
    ctx.say(ctx.t("bank.ask_holder"), choices=[menu_button(ctx)])


@on("bank:holder", takes_text=True)
async def got_holder(ctx: DialogContext) -> None:
    """Stores the holder's name (encrypted) and asks for the account number."""
    name = clean_holder(ctx.event.text or "")
    cipher = _cipher(ctx)
    if cipher is None:
        return
    if name is None:
        ctx.say(ctx.t("bank.holder_invalid"))
        return
    _entered(ctx)["holder"] = cipher.seal(name)
    ctx.goto("bank:account")


@prompt("bank:account")
async def ask_account(ctx: DialogContext) -> None:
    """Asks for the account number."""
    ctx.say(ctx.t("bank.ask_account"), choices=[menu_button(ctx)])


@on("bank:account", takes_text=True)
async def got_account(ctx: DialogContext) -> None:
    """Stores the account number (encrypted) and asks for it a second time."""
    number = clean_account_number(ctx.event.text or "")
    cipher = _cipher(ctx)
    if cipher is None:
        return
    if number is None:
        ctx.say(ctx.t("bank.account_invalid"))
        return
    _entered(ctx)["account"] = cipher.seal(number)
    ctx.goto("bank:account2")


@prompt("bank:account2")
async def ask_account_again(ctx: DialogContext) -> None:
    """Asks for the account number once more."""
    ctx.say(ctx.t("bank.ask_account_again"), choices=[menu_button(ctx)])


@on("bank:account2", takes_text=True)
async def got_account_again(ctx: DialogContext) -> None:
    """Checks both entries match and asks for the IFSC; when they differ, asks for the number anew."""
    cipher = _cipher(ctx)
    if cipher is None:
        return
    entered = _entered(ctx)
    number = clean_account_number(ctx.event.text or "")
    first = cipher.decrypt(entered["account"]) if "account" in entered else None
    if number is None or number != first:
        entered.pop("account", None)
        ctx.say(ctx.t("bank.account_mismatch"))
        ctx.settle_at("bank:account")
        return
    ctx.goto("bank:ifsc")


@prompt("bank:ifsc")
async def ask_ifsc(ctx: DialogContext) -> None:
    """Asks for the branch's IFSC."""
    ctx.say(ctx.t("bank.ask_ifsc"), choices=[menu_button(ctx)])


@on("bank:ifsc", takes_text=True)
async def got_ifsc(ctx: DialogContext) -> None:
    """Stores the IFSC; saves a first account at once, or asks to confirm replacing the old one."""
    code = clean_ifsc(ctx.event.text or "")
    cipher = _cipher(ctx)
    if cipher is None:
        return
    if code is None:
        ctx.say(ctx.t("bank.ifsc_invalid"))
        return
    _entered(ctx)["ifsc"] = cipher.seal(code)
    if ctx.citizen.bank_account_encrypted is None:
        await _save(ctx, cipher)
    else:
        ctx.goto("bank:confirm")


@prompt("bank:confirm")
async def ask_confirm(ctx: DialogContext) -> None:
    """Shows the old and the new account, masked, and asks whether to replace it."""
    cipher = _cipher(ctx)
    details = _details(ctx, cipher) if cipher else None
    if details is None:
        ctx.reset(IDLE)
        return
    ctx.say(
        ctx.t("bank.confirm_change", old=mask(ctx.citizen.bank_last4), new=details.masked, ifsc=details.ifsc),
        choices=[[ctx.choice("bank:yes", "bank.confirm_yes")], [ctx.choice("bank:no", "bank.confirm_no")]],
    )


@on("bank:confirm")
async def got_confirm(ctx: DialogContext) -> None:
    """Replaces the account on yes, keeps the old one on no."""
    cipher = _cipher(ctx)
    if cipher is None:
        return
    if ctx.event.choice == "bank:yes":
        await _save(ctx, cipher)
    elif ctx.event.choice == "bank:no":
        ctx.data.pop("bank", None)
        ctx.say(ctx.t("bank.kept", account=mask(ctx.citizen.bank_last4)))
        ctx.goto(IDLE)
    else:
        ctx.say(ctx.t("bank.use_buttons"))
        ctx.goto("bank:confirm")


def _details(ctx: DialogContext, cipher: BankCipher) -> BankDetails | None:
    entered = _entered(ctx)
    if not {"holder", "account", "ifsc"} <= entered.keys():
        return None
    return BankDetails(
        holder=cipher.decrypt(entered["holder"]),
        account_number=cipher.decrypt(entered["account"]),
        ifsc=cipher.decrypt(entered["ifsc"]),
    )


async def _save(ctx: DialogContext, cipher: BankCipher) -> None:
    details = _details(ctx, cipher)
    ctx.data.pop("bank", None)
    if details is None:
        ctx.reset(IDLE)
        return
    await save_bank_details(ctx.session, cipher, ctx.citizen, details, actor=f"citizen:{ctx.citizen.id}")
    ctx.say(ctx.t("bank.saved", account=details.masked))
    await release_waiting(ctx.session, ctx.citizen.id)
    ctx.goto(IDLE)
