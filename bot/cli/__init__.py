"""The command line: `run_bot.py` runs the bot; subcommands administer it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import setup_logging

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    from bot.cli import citizens, complaints, consumers, database, officers, payouts, photos, rewards, serve
    from bot.cli import service_area as service_area_cli

    parser = argparse.ArgumentParser(prog="run_bot.py", description="V-Mitra bot: report electricity theft.")
    parser.add_argument("--config", type=Path, default=None, help="settings file (default: config.yaml)")
    serve.add_run_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (database, consumers, officers, complaints, citizens, rewards, payouts, photos, service_area_cli):
        module.register(sub)
    parser.set_defaults(handler=serve.run)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    handler: Command = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except ConfigError as exc:  # found once the command runs, e.g. an unusable service_area.boundaries_file
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("vmitra").info("stopped")
        return 130
