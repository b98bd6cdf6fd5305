"""`run_bot.py` with no subcommand: run the bot."""

from __future__ import annotations

import argparse
import sys

from bot.cli.database import open_database
from bot.config import Settings


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webchat", action="store_true", help="serve the local web chat even with a Telegram token")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
    finally:
        await database.dispose()
    if settings.telegram.token is None:
        print(
            "No Telegram token is configured. Set TELEGRAM_BOT_TOKEN=<token from @BotFather> and run again.",
            file=sys.stderr,
        )
        return 2
    return 0
