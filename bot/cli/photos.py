"""`run_bot.py photos purge`: apply the photo retention period now (the bot also does it daily)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.app import photo_store_for
from bot.cli.database import open_database
from bot.config import Settings
from storage.models import utcnow
from storage.photo_retention import purge_photos


def register(sub: Any) -> None:
    photos = sub.add_parser("photos", help="complaint photo maintenance")
    actions = photos.add_subparsers(dest="photos_command", metavar="ACTION", required=True)
    purge = actions.add_parser("purge", help="delete photos of complaints closed longer ago than photos.retention")
    purge.set_defaults(handler=purge_command)


async def purge_command(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        removed = await purge_photos(database, photo_store_for(settings), utcnow() - settings.photos.retention)
    finally:
        await database.dispose()
    print(f"{removed} photo files deleted (complaints closed more than {settings.photos.retention.days} days ago).")
    return 0
