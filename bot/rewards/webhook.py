"""RazorpayX's payout webhook on the bot's HTTP server: signature first, then the same recording as a poll.

A forged or unsigned request gets 400 and changes nothing; a repeated event changes nothing either
(the paying -> paid transition succeeds once).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.rewards.payouts.razorpayx import payout_of_event, result_of, verify_signature
from storage.repositories import RewardRepository

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)


def mount_razorpayx(http_app: web.Application, runtime: Runtime) -> None:
    """Serve RazorpayX's payout webhook at rewards.razorpayx.webhook_path (only with the razorpayx provider)."""
    settings = runtime.settings.rewards
    if settings.provider != "razorpayx" or runtime.rewards is None:
        return
    watch = runtime.rewards
    secret = settings.razorpayx.webhook_secret

    async def receive(request: web.Request) -> web.Response:
        """Verifies X-Razorpay-Signature over the raw body and records the payout's new status."""
        if secret is None:
            log.error("a RazorpayX webhook arrived but RAZORPAYX_WEBHOOK_SECRET is not set")
            return web.json_response({"error": "webhook secret not configured"}, status=503)
        body = await request.read()
        if not verify_signature(body, request.headers.get("X-Razorpay-Signature"), secret.get_secret_value()):
            log.warning("RazorpayX webhook with a bad signature refused")
            return web.json_response({"error": "bad signature"}, status=400)
        try:
            event = json.loads(body)
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        entity = payout_of_event(event) if isinstance(event, dict) else None
        if entity is None:
            return web.json_response({"ignored": True})
        key = str(entity.get("reference_id") or "")
        if not key.startswith("vm-reward-"):
            async with runtime.db.reader() as session:
                payout = await RewardRepository(session).payout_by_reference(str(entity.get("id") or ""))
            key = payout.idempotency_key if payout is not None else ""
        outcome = await watch.payments.record(key, result_of(entity)) if key else "unknown"
        if outcome == "unknown":
            log.warning("RazorpayX webhook for a payout we do not know (%s)", entity.get("id"))
        return web.json_response({"outcome": outcome})

    http_app.router.add_post(settings.razorpayx.webhook_path, receive)
