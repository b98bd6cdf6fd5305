"""`run_bot.py` with no subcommand: run the bot until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from bot.app import build_runtime
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.http_server import HttpServer, build_http_app

log = logging.getLogger("vmitra")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webchat", action="store_true", help="serve the local web chat even with a Telegram token")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.telegram.token is None:
        print(
            "No Telegram token is configured. Create a bot with @BotFather, then run:\n"
            "  TELEGRAM_BOT_TOKEN=<token> python run_bot.py",
            file=sys.stderr,
        )
        return 2
    runtime = await build_runtime(settings)
    tg = settings.telegram
    channel = TelegramChannel(
        runtime.engine,
        tg.token.get_secret_value(),
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        pool_size=tg.connection_pool_size,
        poll_timeout_s=tg.poll_timeout_s,
        webhook_url=tg.webhook_url,
        webhook_secret=tg.webhook_secret.get_secret_value() if tg.webhook_secret else None,
    )
    http_app = build_http_app(settings)
    if tg.webhook_url:
        if tg.webhook_secret is None:
            print("Webhook mode needs TELEGRAM_WEBHOOK_SECRET (Telegram's secret-token header).", file=sys.stderr)
            return 2
        http_app.router.add_post(tg.webhook_path, channel.webhook)
    server = HttpServer(http_app, settings.http.host, settings.http.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    await channel.start()
    log.info("V-Mitra bot is running on Telegram (%s)", "webhook" if tg.webhook_url else "long polling")
    try:
        await stop.wait()
    finally:
        await channel.stop()
        await server.stop()
        await runtime.close()
    return 0
