"""A fake RazorpayX Payouts API on 127.0.0.1, strict where the real one is: auth, idempotency, validation.

    async with FakeRazorpayX("rzp_test_key", "secret", account_number="2323230041626905") as api:
        provider settings: base_url=api.base_url
        api.delay_after_accept(2.0)       # the next new payout is created, then its answer is held back
        api.fail_next(503, times=2)       # the next two requests answer 503 and do nothing
        api.bad_ifsc.add("SBIN0000000")   # fund accounts with this IFSC are refused (400)
        api.process(payout_id)            # a processing payout becomes processed (with a UTR)
        body, signature = api.webhook(payout_id, secret)   # a signed payout.* event

Endpoints (basic auth with key id and secret, else 401):

    POST /v1/contacts            {"name", "type", "reference_id"}; the same name and reference -> the same contact
    POST /v1/fund_accounts       {"contact_id", "account_type": "bank_account", "bank_account": {...}}; 400 on a
                                 bad IFSC or account number; the same details -> the same fund account
    POST /v1/payouts             needs X-Payout-Idempotency (400 without); the same key and body -> the payout made
                                 the first time (never a second one); the same key with another body -> 400
    GET  /v1/payouts/{id}        the payout

`money_moved()` counts the payouts created per reference_id: an exactly-once test wants 1 everywhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):014d}"


def _error(status: int, description: str, field: str | None = None) -> web.Response:
    body = {"error": {"code": "BAD_REQUEST_ERROR", "description": description, "field": field, "source": "business"}}
    return web.json_response(body, status=status)


class FakeRazorpayX:
    def __init__(self, key_id: str, key_secret: str, *, account_number: str = "2323230041626905") -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.account_number = account_number
        self.auto_process = True
        # Seconds each new payout takes to create (a slower bank gives a restart test time to strike).
        self.latency = 0.0
        # Called with each new payout as it is created, before it is answered (a test's kill switch).
        self.on_create: Callable[[dict[str, Any]], None] | None = None
        self.contacts: dict[str, dict[str, Any]] = {}
        self.fund_accounts: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, tuple[str, str]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bad_ifsc: set[str] = set()
        self._delays: list[float] = []
        self._failures: list[int] = []
        self._server: TestServer | None = None

    async def __aenter__(self) -> FakeRazorpayX:
        app = web.Application()
        app.router.add_post("/v1/contacts", self._contact)
        app.router.add_post("/v1/fund_accounts", self._fund_account)
        app.router.add_post("/v1/payouts", self._payout)
        app.router.add_get("/v1/payouts/{id}", self._fetch)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def delay_after_accept(self, seconds: float, times: int = 1) -> None:
        """The next `times` new payouts are created at once but answered only after `seconds`."""
        self._delays.extend([seconds] * times)

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    def process(self, payout_id: str, status: str = "processed", reason: str | None = None) -> dict[str, Any]:
        """Move a payout on, as the bank would: processed (with a UTR) or reversed/rejected/failed."""
        payout = self.payouts[payout_id]
        payout["status"] = status
        if status == "processed":
            payout["utr"] = f"UTR{payout_id[-10:]}"
        elif reason:
            payout["status_details"] = {"reason": "bank_error", "description": reason, "source": "beneficiary_bank"}
        return payout

    def webhook(self, payout_id: str, secret: str) -> tuple[bytes, str]:
        """A payout.<status> event for the payout, with its X-Razorpay-Signature."""
        payout = self.payouts[payout_id]
        event = {
            "entity": "event",
            "account_id": "acc_fake",
            "event": f"payout.{payout['status']}",
            "contains": ["payout"],
            "payload": {"payout": {"entity": payout}},
            "created_at": 1_700_000_000,
        }
        body = json.dumps(event).encode()
        return body, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def money_moved(self) -> Counter[str]:
        """How many payouts were created for each reference_id."""
        return Counter(payout["reference_id"] for payout in self.payouts.values())

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if not self._authorised(request):
            return _error(401, "The api key provided is invalid")
        if self._failures:
            return web.json_response({"error": {"code": "SERVER_ERROR"}}, status=self._failures.pop(0))
        return None

    async def _contact(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        body = await request.json()
        if not body.get("name"):
            return _error(400, "The name field is required.", "name")
        for contact in self.contacts.values():
            if (contact["name"], contact["reference_id"]) == (body["name"], body.get("reference_id")):
                return web.json_response(contact, status=200)
        contact = {"id": _id("cont"), "entity": "contact", "active": True, **body}
        self.contacts[contact["id"]] = contact
        return web.json_response(contact, status=201)

    async def _fund_account(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        body = await request.json()
        bank = body.get("bank_account") or {}
        if body.get("contact_id") not in self.contacts:
            return _error(400, "The id provided does not exist", "contact_id")
        if not IFSC.match(bank.get("ifsc", "")) or bank.get("ifsc") in self.bad_ifsc:
            return _error(400, "Invalid IFSC Code in Bank Account", "ifsc")
        if not re.fullmatch(r"\d{5,35}", bank.get("account_number", "")):
            return _error(400, "Invalid account number", "account_number")
        for account in self.fund_accounts.values():
            if account["contact_id"] == body["contact_id"] and account["bank_account"] == bank:
                return web.json_response(account, status=200)
        account = {"id": _id("fa"), "entity": "fund_account", "account_type": "bank_account", "active": True, **body}
        self.fund_accounts[account["id"]] = account
        return web.json_response(account, status=201)

    async def _payout(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        raw = await request.read()
        key = request.headers.get("X-Payout-Idempotency")
        if not key or not 4 <= len(key) <= 36:
            return _error(400, "Idempotency key is missing. Include idempotency header and key in the request.")
        if key in self.by_key:
            first_body, payout_id = self.by_key[key]
            if json.loads(first_body) != json.loads(raw):
                return _error(400, "Different request body sent for the same Idempotency Header")
            return web.json_response(self.payouts[payout_id], status=200)
        body = json.loads(raw)
        if self.latency:
            await asyncio.sleep(self.latency)
            if key in self.by_key:  # a concurrent retry with the same key got there first
                return web.json_response(self.payouts[self.by_key[key][1]], status=200)
        if body.get("account_number") != self.account_number:
            return _error(400, "Invalid account number", "account_number")
        if body.get("fund_account_id") not in self.fund_accounts:
            return _error(400, "The id provided does not exist", "fund_account_id")
        if not isinstance(body.get("amount"), int) or body["amount"] < 100:
            return _error(400, "Minimum transaction amount should be 100 paise", "amount")
        payout_id = _id("pout")
        payout = {
            "id": payout_id,
            "entity": "payout",
            "fund_account_id": body["fund_account_id"],
            "amount": body["amount"],
            "currency": "INR",
            "fees": 0,
            "tax": 0,
            "status": "processing",
            "utr": None,
            "mode": body.get("mode"),
            "purpose": body.get("purpose"),
            "reference_id": body.get("reference_id"),
            "narration": body.get("narration"),
            "notes": body.get("notes") or {},
            "status_details": None,
        }
        self.payouts[payout_id] = payout
        self.by_key[key] = (raw.decode(), payout_id)
        if self.on_create is not None:
            self.on_create(payout)
        if self.auto_process:
            self.process(payout_id)
        if self._delays:
            await asyncio.sleep(self._delays.pop(0))  # accepted, but the answer comes too late for the client
        return web.json_response(payout, status=200)

    async def _fetch(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        payout = self.payouts.get(request.match_info["id"])
        if payout is None:
            return _error(400, "The id provided does not exist", "id")
        return web.json_response(payout)
