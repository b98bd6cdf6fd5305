"""The bot's own HTTP server (aiohttp): the web chat and the webhooks."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.config import Settings
from bot.rate_limit import SourceRateLimit

log = logging.getLogger(__name__)


def build_http_app(settings: Settings) -> web.Application:
    """An aiohttp application with the body-size limit, webhook rate limits and a health check."""
    webhooks = SourceRateLimit(
        settings.abuse.webhook_requests_per_minute, (settings.telegram.webhook_path, settings.twilio.webhook_path)
    )
    app = web.Application(client_max_size=settings.http.max_upload_bytes, middlewares=[webhooks.middleware])
    app.router.add_get("/healthz", _health)
    return app


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class HttpServer:
    """Runs an aiohttp application on the configured host and port."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("HTTP server listening on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
