"""Payout providers, chosen by `rewards.provider` in config.yaml."""

from __future__ import annotations

from bot.config import Settings
from bot.rewards.payouts.base import (
    PayoutError,
    PayoutOrder,
    PayoutProvider,
    PayoutRejected,
    PayoutResult,
    PayoutStatus,
    ProviderUnavailable,
)


def provider_for(settings: Settings) -> PayoutProvider:
    """The configured provider (a RazorpayX client is created only when chosen)."""
    if settings.rewards.provider == "razorpayx":
        from bot.rewards.payouts.razorpayx import RazorpayXProvider

        return RazorpayXProvider.from_settings(settings.rewards.razorpayx)
    from bot.rewards.payouts.bank_file import BankFileProvider

    return BankFileProvider()


__all__ = [
    "PayoutError",
    "PayoutOrder",
    "PayoutProvider",
    "PayoutRejected",
    "PayoutResult",
    "PayoutStatus",
    "ProviderUnavailable",
    "provider_for",
]
