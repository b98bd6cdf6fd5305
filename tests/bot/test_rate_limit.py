"""Webhook endpoints are rate-limited per source address."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_settings
from bot.http_server import build_http_app
from bot.rate_limit import SourceRateLimit


def test_a_source_gets_its_burst_then_waits_for_tokens() -> None:
    limit = SourceRateLimit(per_minute=60, paths=["/hook"])  # one a second, a burst of ten
    assert all(limit.allow("1.2.3.4", now=0.0) for _ in range(10))
    assert not limit.allow("1.2.3.4", now=0.0)
    assert limit.allow("5.6.7.8", now=0.0)  # other sources are not affected
    assert limit.allow("1.2.3.4", now=1.01)
    assert not limit.allow("1.2.3.4", now=1.02)


async def test_the_webhook_answers_429_beyond_the_limit_and_other_paths_are_free() -> None:
    settings = load_settings(environ={})
    settings = settings.model_copy(
        update={"abuse": settings.abuse.model_copy(update={"webhook_requests_per_minute": 12})}
    )
    app = build_http_app(settings)

    async def hook(_request: object) -> object:
        from aiohttp import web

        return web.Response(text="ok")

    app.router.add_post(settings.twilio.webhook_path, hook)
    async with TestClient(TestServer(app)) as client:
        statuses = [(await client.post(settings.twilio.webhook_path)).status for _ in range(4)]
        assert statuses == [200, 200, 429, 429]  # a burst of two (12 a minute), then refused
        refused = await client.post(settings.twilio.webhook_path)
        assert refused.headers["Retry-After"] == "5"
        assert (await refused.json())["error"] == "rate_limited"
        assert all([(await client.get("/healthz")).status == 200 for _ in range(5)])
