"""Bank details: validation of what a citizen types, and storing them encrypted with an audit entry.

Nothing here logs or returns an account number, IFSC or holder name except to the payout provider;
`BankDetails.__repr__` masks them so that even an accidental log line shows only the last 4 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rewards.crypto import BankCipher, mask
from storage.models import Citizen
from storage.repositories import AuditRepository
from storage.repositories.bank_accounts import BankAccountRepository, SealedAccount

ACCOUNT_NUMBER = re.compile(r"^\d{9,18}$")
IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
_HOLDER = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ .'-])*$")


def clean_account_number(text: str) -> str | None:
    """9 to 18 digits (spaces and hyphens between groups allowed), or None."""
    digits = re.sub(r"[\s-]", "", text)
    return digits if ACCOUNT_NUMBER.match(digits) else None


def clean_ifsc(text: str) -> str | None:
    """An IFSC such as SBIN0001234 (four letters, a zero, six letters or digits), or None."""
    code = text.strip().upper()
    return code if IFSC.match(code) else None


def clean_holder(text: str) -> str | None:
    """The account holder's name as the bank has it: 2 to 100 letters, spaces, dots, hyphens, apostrophes."""
    name = " ".join(text.split())
    return name if 2 <= len(name) <= 100 and _HOLDER.match(name) else None


@dataclass(frozen=True)
class BankDetails:
    """A decrypted bank account, held only as long as a payout or a dialog step needs it."""

    holder: str
    account_number: str
    ifsc: str

    @property
    def last4(self) -> str:
        """The account number's last four digits."""
        return self.account_number[-4:]

    @property
    def masked(self) -> str:
        """The account number as shown: XXXXXX1234."""
        return mask(self.last4)

    def __repr__(self) -> str:
        return f"BankDetails({self.masked})"

    __str__ = __repr__


def seal(cipher: BankCipher, details: BankDetails) -> SealedAccount:
    """Encrypt the three fields for storage."""
    return SealedAccount(
        holder=cipher.encrypt(details.holder),
        account=cipher.encrypt(details.account_number),
        ifsc=cipher.encrypt(details.ifsc),
        last4=details.last4,
    )


def unseal(cipher: BankCipher, sealed: SealedAccount) -> BankDetails:
    """Decrypt stored details; raises BankDataUnreadable when the key no longer opens them."""
    return BankDetails(
        holder=cipher.decrypt(sealed.holder),
        account_number=cipher.decrypt(sealed.account),
        ifsc=cipher.decrypt(sealed.ifsc),
    )


async def load_bank_details(session: AsyncSession, cipher: BankCipher, citizen_id: int) -> BankDetails | None:
    """The citizen's decrypted bank details, or None when they have none."""
    sealed = await BankAccountRepository(session).of(citizen_id)
    return unseal(cipher, sealed) if sealed is not None else None


async def save_bank_details(
    session: AsyncSession, cipher: BankCipher, citizen: Citizen, details: BankDetails, *, actor: str
) -> None:
    """Store the details encrypted and write who changed them (last four digits only) to the audit log."""
    previous = citizen.bank_last4 if citizen.bank_account_encrypted is not None else None
    await BankAccountRepository(session).store(citizen, seal(cipher, details))
    action = "bank_account.change" if previous is not None else "bank_account.add"
    details_logged = {"last4": details.last4} | ({"previous_last4": previous} if previous else {})
    await AuditRepository(session).record(actor, action, f"citizen:{citizen.id}", **details_logged)
