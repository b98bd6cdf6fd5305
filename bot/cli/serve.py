"""`run_bot.py` with no subcommand: run the bot until interrupted.

Without a Telegram token it serves the web chat alone (loading a demo register into an empty
register first); with a token it runs Telegram, and the web chat beside it when webchat.enabled
is true or --webchat is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from functools import partial

from bot.app import Runtime, build_runtime
from bot.channels.telegram import TelegramChannel
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_demo import demo_status, ensure_demo_register
from bot.channels.whatsapp import mount_whatsapp
from bot.config import ConfigError, Settings
from bot.http_server import HttpServer, build_http_app
from bot.rewards.webhook import mount_razorpayx

log = logging.getLogger("vmitra")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webchat", action="store_true", help="serve the local web chat even with a Telegram token")


def _telegram_channel(runtime: Runtime, settings: Settings) -> TelegramChannel:
    tg = settings.telegram
    assert tg.token is not None
    return TelegramChannel(
        runtime.engine,
        tg.token.get_secret_value(),
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        pool_size=tg.connection_pool_size,
        poll_timeout_s=tg.poll_timeout_s,
        webhook_url=tg.webhook_url,
        webhook_secret=tg.webhook_secret.get_secret_value() if tg.webhook_secret else None,
    )


def webchat_address(settings: Settings) -> str:
    """The address to open in a browser (a wildcard host is shown as 127.0.0.1)."""
    host = settings.http.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve Telegram and/or the web chat until SIGINT or SIGTERM."""
    tg = settings.telegram
    use_telegram = tg.token is not None
    use_whatsapp = bool(settings.twilio.account_sid) or settings.twilio.auth_token is not None
    demo_mode = not use_telegram and not use_whatsapp
    use_webchat = demo_mode or settings.webchat.enabled or args.webchat
    if use_telegram and tg.webhook_url and tg.webhook_secret is None:
        print("Webhook mode needs TELEGRAM_WEBHOOK_SECRET (Telegram's secret-token header).", file=sys.stderr)
        return 2
    started = time.monotonic()
    runtime = await build_runtime(settings)
    http_app = build_http_app(settings)
    telegram: TelegramChannel | None = None
    mount_razorpayx(http_app, runtime)  # the payout webhook, only with rewards.provider razorpayx
    try:
        mount_whatsapp(http_app, runtime)  # the webhook and photo links, when Twilio is configured
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        await runtime.close()
        return 2
    if use_webchat:
        if demo_mode:
            # Demo mode only: a real deployment (with a token) never gets generated consumers.
            await ensure_demo_register(runtime)
        webchat = WebChatChannel.from_runtime(runtime, demo_probe=partial(demo_status, runtime))
        webchat.install(http_app)
        runtime.notifier.adapters[webchat.name] = webchat
    if use_telegram:
        telegram = _telegram_channel(runtime, settings)
        runtime.notifier.adapters[telegram.name] = telegram
        if tg.webhook_url:
            http_app.router.add_post(tg.webhook_path, telegram.webhook)
    server = HttpServer(http_app, settings.http.host, settings.http.port)
    try:
        await server.start()
    except OSError as exc:
        print(
            f"Cannot listen on {settings.http.host}:{settings.http.port} ({exc.strerror or exc}). "
            "Stop the other program or set http.port in config.yaml.",
            file=sys.stderr,
        )
        await runtime.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if telegram is not None:
            await telegram.start()
            log.info("V-Mitra bot is running on Telegram (%s)", "webhook" if tg.webhook_url else "long polling")
        await runtime.start_background()
        if use_webchat:
            if demo_mode:
                print("No Telegram token or Twilio account is configured: serving the web chat only.", flush=True)
            print(
                f"V-Mitra web chat: {webchat_address(settings)}  (ready in {time.monotonic() - started:.1f} s)",
                flush=True,
            )
        await stop.wait()
    finally:
        if telegram is not None:
            await telegram.stop()
        await server.stop()
        await runtime.close()
    return 0
