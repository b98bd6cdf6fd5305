"""The RazorpayX client against the fake server on loopback, and the payout webhook with its signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime
from bot.config import Settings
from bot.rewards.bank import BankDetails
from bot.rewards.payments import Payments
from bot.rewards.payouts import PayoutOrder, PayoutRejected, PayoutStatus, ProviderUnavailable
from bot.rewards.payouts.razorpayx import RazorpayXClient, RazorpayXProvider, verify_signature
from bot.rewards.webhook import mount_razorpayx
from storage.models import utcnow
from storage.repositories.rewards import payout_key
from tests.fakes.razorpayx import FakeRazorpayX
from tests.rewards.helpers import (
    RZP_ACCOUNT,
    RZP_KEY_ID,
    RZP_KEY_SECRET,
    RZP_WEBHOOK_SECRET,
    pushes,
    seed_rewards,
    states,
)

RAVI = BankDetails(holder="Ravi Kumar", account_number="123456789012", ifsc="PUNB0123400")


@pytest.fixture
async def provider(rzp: FakeRazorpayX) -> AsyncIterator[RazorpayXProvider]:
    client = RazorpayXClient(rzp.base_url, RZP_KEY_ID, RZP_KEY_SECRET, timeout_s=0.5)
    yield RazorpayXProvider(client, RZP_ACCOUNT)
    await client.close()


def order(key: str = "vm-reward-7-1", destination: str | None = None, amount: int = 125_000) -> PayoutOrder:
    return PayoutOrder(
        idempotency_key=key,
        reward_id=7,
        citizen_id=3,
        amount_paise=amount,
        beneficiary=RAVI,
        narration="VMitra reward 7",
        destination=destination,
    )


async def test_contacts_fund_accounts_and_an_idempotent_payout(rzp: FakeRazorpayX, provider: RazorpayXProvider) -> None:
    fund_account = await provider.prepare(order())
    assert fund_account is not None and fund_account.startswith("fa_")
    assert await provider.prepare(order()) == fund_account  # the same details: the same fund account
    [contact] = rzp.contacts.values()
    assert contact["name"] == "Ravi Kumar" and contact["reference_id"] == "vm-citizen-3"
    [account] = rzp.fund_accounts.values()
    assert account["bank_account"] == {"name": "Ravi Kumar", "ifsc": "PUNB0123400", "account_number": "123456789012"}

    first = await provider.pay(order(destination=fund_account))
    again = await provider.pay(order(destination=fund_account))
    assert first.status is PayoutStatus.PAID and first.utr
    assert again == first
    assert rzp.money_moved() == {"vm-reward-7-1": 1}
    payout = rzp.payouts[first.provider_reference or ""]
    assert payout["amount"] == 125_000 and payout["currency"] == "INR" and payout["mode"] == "IMPS"

    # Basic auth with the key id and secret on every call.
    expected = "Basic " + base64.b64encode(f"{RZP_KEY_ID}:{RZP_KEY_SECRET}".encode()).decode()
    assert {headers["Authorization"] for _, _, headers in rzp.requests} == {expected}
    # The same key with another body is refused, not paid.
    with pytest.raises(PayoutRejected, match="Different request body"):
        await provider.pay(order(destination=fund_account, amount=999_900))
    assert rzp.money_moved() == {"vm-reward-7-1": 1}
    polled = await provider.status(
        replace(order(destination=fund_account), provider_reference=first.provider_reference)
    )
    assert polled == first


async def test_errors_are_classified(rzp: FakeRazorpayX, provider: RazorpayXProvider) -> None:
    rzp.bad_ifsc.add("PUNB0123400")
    with pytest.raises(PayoutRejected, match="Invalid IFSC"):
        await provider.prepare(order())
    rzp.fail_next(503)
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        await provider.prepare(order())
    wrong = RazorpayXClient(rzp.base_url, RZP_KEY_ID, "not-the-secret", timeout_s=0.5)
    try:
        with pytest.raises(ProviderUnavailable, match="HTTP 401"):
            await RazorpayXProvider(wrong, RZP_ACCOUNT).prepare(order())
    finally:
        await wrong.close()


async def test_a_timeout_after_accept_is_retried_with_the_same_key(
    rzp: FakeRazorpayX, provider: RazorpayXProvider
) -> None:
    fund_account = await provider.prepare(order())
    rzp.delay_after_accept(1.5)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.pay(order(destination=fund_account))
    assert len(rzp.payouts) == 1
    retried = await provider.pay(order(destination=fund_account))
    assert retried.status is PayoutStatus.PAID
    assert rzp.money_moved() == {"vm-reward-7-1": 1}
    keys = [h.get("X-Payout-Idempotency") for _, path, h in rzp.requests if path == "/v1/payouts"]
    assert keys == ["vm-reward-7-1", "vm-reward-7-1"]


def test_signature_is_hmac_sha256_hex_of_the_raw_body() -> None:
    body = b'{"event":"payout.processed"}'
    good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_signature(body, good, "s3cret")
    assert not verify_signature(body + b" ", good, "s3cret")
    assert not verify_signature(body, good.upper()[:-1], "s3cret")
    assert not verify_signature(body, None, "s3cret")


async def test_the_webhook_completes_a_payout_and_a_forged_one_changes_nothing(
    runtime: Runtime, settings: Settings, rzp: FakeRazorpayX
) -> None:
    assert runtime.rewards is not None
    [reward_id] = await seed_rewards(runtime.db, settings, 1, due_at=utcnow(), state="due")
    rzp.auto_process = False
    assert await runtime.rewards.payments.pay(reward_id) == "processing"
    [payout_id] = rzp.payouts
    app = web.Application()
    mount_razorpayx(app, runtime)
    async with TestClient(TestServer(app)) as client:
        rzp.process(payout_id)
        body, signature = rzp.webhook(payout_id, RZP_WEBHOOK_SECRET)
        path = settings.rewards.razorpayx.webhook_path

        forged = await client.post(path, data=body, headers={"X-Razorpay-Signature": "0" * 64})
        unsigned = await client.post(path, data=body)
        other_secret = rzp.webhook(payout_id, "guessed")[1]
        wrong_key = await client.post(path, data=body, headers={"X-Razorpay-Signature": other_secret})
        assert [forged.status, unsigned.status, wrong_key.status] == [400, 400, 400]
        assert await states(runtime.db) == {"paying": 1}

        answer = await client.post(path, data=body, headers={"X-Razorpay-Signature": signature})
        assert answer.status == 200 and (await answer.json()) == {"outcome": "paid"}
        replay = await client.post(path, data=body, headers={"X-Razorpay-Signature": signature})
        assert (await replay.json()) == {"outcome": "unchanged"}
    assert await states(runtime.db) == {"paid": 1}
    assert len(await pushes(runtime.db, "has been paid")) == 1
    assert rzp.money_moved() == {payout_key(reward_id, 1): 1}
    await runtime.rewards.close()


async def test_a_reversed_payout_fails_the_reward(runtime: Runtime, settings: Settings, rzp: FakeRazorpayX) -> None:
    assert runtime.rewards is not None
    [reward_id] = await seed_rewards(runtime.db, settings, 1, due_at=utcnow(), state="due")
    rzp.auto_process = False
    payments: Payments = runtime.rewards.payments
    assert await payments.pay(reward_id) == "processing"
    [payout_id] = rzp.payouts
    rzp.process(payout_id, "reversed", reason="Beneficiary account is closed")
    app = web.Application()
    mount_razorpayx(app, runtime)
    async with TestClient(TestServer(app)) as client:
        body, signature = rzp.webhook(payout_id, RZP_WEBHOOK_SECRET)
        answer = await client.post(
            settings.rewards.razorpayx.webhook_path, data=body, headers={"X-Razorpay-Signature": signature}
        )
        assert (await answer.json()) == {"outcome": "failed"}
    assert await states(runtime.db) == {"failed": 1}
    assert len(await pushes(runtime.db, "did not go through")) == 1
    await runtime.rewards.close()
