"""`run_bot.py db upgrade`: apply the database migrations."""

from __future__ import annotations

import argparse
from typing import Any

from bot.config import Settings
from storage.db import Database


def open_database(settings: Settings) -> Database:
    """The configured database (not yet migrated)."""
    return Database(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations up to the newest (or --revision)")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(handler=upgrade_command)


async def upgrade_command(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade(args.revision)
    finally:
        await database.dispose()
    print(f"Database is at revision {args.revision}.")
    return 0
