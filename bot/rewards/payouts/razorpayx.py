"""RazorpayX Payouts over HTTP: contacts, fund accounts, payouts with X-Payout-Idempotency, status, webhooks.

    prepare: POST /v1/contacts -> cont_...; POST /v1/fund_accounts (bank_account) -> fa_... (stored, reused)
    pay:     POST /v1/payouts with X-Payout-Idempotency: <key>; the same key and body on every retry,
             so RazorpayX answers a retry with the payout it already made
    status:  GET /v1/payouts/{id}
    webhook: payout.processed / .reversed / .failed / .rejected / ..., signed with HMAC-SHA256 (hex) of
             the raw body under the webhook secret, in X-Razorpay-Signature

Requests authenticate with HTTP basic auth (key id, key secret). Timeouts, transport errors, 429 and
5xx raise ProviderUnavailable; other 4xx raise PayoutRejected. No error message carries bank details.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from bot.config import RazorpayXSettings
from bot.rewards.payouts.base import (
    PayoutOrder,
    PayoutRejected,
    PayoutResult,
    PayoutStatus,
    ProviderUnavailable,
)

PAID_STATUSES = {"processed"}
FAILED_STATUSES = {"reversed", "rejected", "failed", "cancelled"}


def verify_signature(body: bytes, signature: str | None, secret: str) -> bool:
    """True when X-Razorpay-Signature is the HMAC-SHA256 (hex) of the raw body under the webhook secret."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip())


def result_of(entity: dict[str, Any]) -> PayoutResult:
    """A RazorpayX payout entity as our result: processed is paid; reversed/rejected/failed/cancelled failed."""
    status = str(entity.get("status") or "")
    reference = entity.get("id")
    if status in PAID_STATUSES:
        return PayoutResult(PayoutStatus.PAID, provider_reference=reference, utr=entity.get("utr"))
    if status in FAILED_STATUSES:
        details = entity.get("status_details") or {}
        reason = details.get("description") or details.get("reason") or status
        return PayoutResult(PayoutStatus.FAILED, provider_reference=reference, reason=f"razorpayx {status}: {reason}")
    return PayoutResult(PayoutStatus.PROCESSING, provider_reference=reference)


def payout_of_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The payout entity inside a payout.* webhook event, or None for any other event."""
    if not str(event.get("event", "")).startswith("payout."):
        return None
    entity = ((event.get("payload") or {}).get("payout") or {}).get("entity")
    return entity if isinstance(entity, dict) else None


class RazorpayXClient:
    """A small async client of the RazorpayX Payouts API."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        key_secret: str,
        *,
        timeout_s: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(key_id, key_secret),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One API call; raises ProviderUnavailable (try again, same key) or PayoutRejected (give up)."""
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"{method} {path}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"{method} {path}: HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise ProviderUnavailable(f"{method} {path}: HTTP {response.status_code}, check the RazorpayX keys")
        try:
            body = response.json()
        except ValueError:
            raise ProviderUnavailable(f"{method} {path}: HTTP {response.status_code} without JSON") from None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            description = (error or {}).get("description") or f"HTTP {response.status_code}"
            raise PayoutRejected(f"razorpayx: {str(description)[:200]}")
        return body if isinstance(body, dict) else {}

    async def create_contact(self, name: str, reference_id: str) -> str:
        """POST /v1/contacts; the contact's id."""
        body = {"name": name, "type": "customer", "reference_id": reference_id}
        return str((await self.request("POST", "/v1/contacts", json=body))["id"])

    async def create_fund_account(self, contact_id: str, holder: str, account_number: str, ifsc: str) -> str:
        """POST /v1/fund_accounts for a bank account; the fund account's id."""
        body = {
            "contact_id": contact_id,
            "account_type": "bank_account",
            "bank_account": {"name": holder, "ifsc": ifsc, "account_number": account_number},
        }
        return str((await self.request("POST", "/v1/fund_accounts", json=body))["id"])

    async def create_payout(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/payouts with X-Payout-Idempotency; the payout entity."""
        return await self.request("POST", "/v1/payouts", json=body, headers={"X-Payout-Idempotency": idempotency_key})

    async def fetch_payout(self, payout_id: str) -> dict[str, Any]:
        """GET /v1/payouts/{id}; the payout entity."""
        return await self.request("GET", f"/v1/payouts/{payout_id}")


class RazorpayXProvider:
    """Pays rewards through RazorpayX from the company's business account."""

    name = "razorpayx"

    def __init__(self, client: RazorpayXClient, account_number: str, mode: str = "IMPS") -> None:
        self.client = client
        self.account_number = account_number
        self.mode = mode

    @classmethod
    def from_settings(
        cls, settings: RazorpayXSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> RazorpayXProvider:
        """A provider from config; without keys every call fails as unavailable (and is logged), never pays."""
        client = RazorpayXClient(
            settings.base_url,
            settings.key_id or "",
            settings.key_secret.get_secret_value() if settings.key_secret else "",
            timeout_s=settings.timeout.total_seconds(),
            transport=transport,
        )
        return cls(client, settings.account_number or "", settings.mode)

    async def prepare(self, order: PayoutOrder) -> str | None:
        """Creates (or finds) the contact and the bank-account fund account; returns the fund account id."""
        who = order.beneficiary
        contact_id = await self.client.create_contact(who.holder, f"vm-citizen-{order.citizen_id}")
        return await self.client.create_fund_account(contact_id, who.holder, who.account_number, who.ifsc)

    def payout_body(self, order: PayoutOrder) -> dict[str, Any]:
        """The payout request; built only from the stored order, so every retry sends the same body."""
        return {
            "account_number": self.account_number,
            "fund_account_id": order.destination,
            "amount": order.amount_paise,
            "currency": "INR",
            "mode": self.mode,
            "purpose": "payout",
            "queue_if_low_balance": True,
            "reference_id": order.idempotency_key,
            "narration": order.narration[:30],
            "notes": {"reward_id": str(order.reward_id)},
        }

    async def pay(self, order: PayoutOrder) -> PayoutResult:
        """Creates the payout (or gets the one made under the same key) to the stored fund account."""
        if not order.destination:
            raise PayoutRejected("no fund account for the payout")
        return result_of(await self.client.create_payout(order.idempotency_key, self.payout_body(order)))

    async def status(self, order: PayoutOrder) -> PayoutResult:
        """The payout's current status (asks with the same key when its id was never learnt)."""
        if not order.provider_reference:
            return await self.pay(order)
        return result_of(await self.client.fetch_payout(order.provider_reference))

    async def close(self) -> None:
        await self.client.close()
