"""The payout provider interface: one shape for the bank-file ledger and for RazorpayX.

Exceptions:

    PayoutError
    ├── ProviderUnavailable   no answer, a timeout, HTTP 429 or 5xx: ask again later WITH THE SAME KEY
    └── PayoutRejected        refused for good (bad account number or IFSC, ...): the reward fails and the
                              citizen is asked to correct their bank details

Every call for one payout carries `PayoutOrder.idempotency_key`; a provider must treat a repeated
key as the same payout (RazorpayX: the X-Payout-Idempotency header; the bank file: the customer
reference column), so a retry after a timeout or a crash never pays twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.rewards.bank import BankDetails


class PayoutError(Exception):
    """Base of the payout provider errors."""


class ProviderUnavailable(PayoutError):
    """The provider did not give an answer we can trust; the payout may or may not exist there."""


class PayoutRejected(PayoutError):
    """The provider refused the payout for good; the reason is kept for the administrator."""


class PayoutStatus(StrEnum):
    QUEUED = "queued"  # waits for something outside the bot (the bank file's upload and its UTRs)
    PROCESSING = "processing"  # accepted; look again later (or the webhook says)
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class PayoutOrder:
    """One payout as the provider needs it; the same order (same key) is sent on every retry."""

    idempotency_key: str
    reward_id: int
    citizen_id: int
    amount_paise: int
    beneficiary: BankDetails
    narration: str
    destination: str | None = None
    provider_reference: str | None = None


@dataclass(frozen=True)
class PayoutResult:
    status: PayoutStatus
    provider_reference: str | None = None
    utr: str | None = None
    reason: str | None = None


class PayoutProvider(Protocol):
    """A way of moving money to a citizen's bank account."""

    name: str

    async def prepare(self, order: PayoutOrder) -> str | None:
        """Register the beneficiary if the provider needs it; the handle is stored and reused by retries."""
        ...

    async def pay(self, order: PayoutOrder) -> PayoutResult:
        """Create the payout, or return the one already created under the same idempotency key."""
        ...

    async def status(self, order: PayoutOrder) -> PayoutResult:
        """What became of a payout the provider accepted earlier."""
        ...

    async def close(self) -> None: ...
