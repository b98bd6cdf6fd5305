"""A citizen's bank account: ciphertext columns only (bot/rewards/crypto.py holds the key)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Citizen, utcnow


@dataclass(frozen=True)
class SealedAccount:
    """Bank details as stored: three Fernet ciphertexts and the last four digits in the clear."""

    holder: bytes
    account: bytes
    ifsc: bytes
    last4: str


class BankAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, citizen_id: int) -> SealedAccount | None:
        """The citizen's sealed bank details, or None."""
        citizen = await self.session.get(Citizen, citizen_id)
        if citizen is None or citizen.bank_account_encrypted is None or citizen.deleted_at is not None:
            return None
        if citizen.bank_holder_encrypted is None or citizen.bank_ifsc_encrypted is None:
            return None
        return SealedAccount(
            holder=citizen.bank_holder_encrypted,
            account=citizen.bank_account_encrypted,
            ifsc=citizen.bank_ifsc_encrypted,
            last4=citizen.bank_last4 or "",
        )

    async def store(self, citizen: Citizen, sealed: SealedAccount) -> None:
        """Replace the citizen's bank details."""
        citizen.bank_holder_encrypted = sealed.holder
        citizen.bank_account_encrypted = sealed.account
        citizen.bank_ifsc_encrypted = sealed.ifsc
        citizen.bank_last4 = sealed.last4
        citizen.bank_updated_at = utcnow()
        await self.session.flush()
