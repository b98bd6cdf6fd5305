"""Assembly of the runtime: database, photo store and dialog engine built from the settings."""

from __future__ import annotations

from dataclasses import dataclass

import handlers
from bot.config import Settings
from bot.engine import DialogEngine
from storage.db import Database
from storage.photo_store import PhotoStore


@dataclass
class Runtime:
    """Everything a channel adapter needs to serve users."""

    settings: Settings
    db: Database
    photo_store: PhotoStore
    engine: DialogEngine

    async def close(self) -> None:
        await self.engine.drain()
        await self.db.dispose()


def photo_store_for(settings: Settings) -> PhotoStore:
    limits = settings.photos
    return PhotoStore(
        settings.photo_dir, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, min_side_px=limits.min_side_px
    )


async def build_runtime(settings: Settings, db: Database | None = None) -> Runtime:
    """Open (and migrate) the database and wire the engine to the flows in handlers/."""
    if db is None:
        db = Database(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)
        await db.upgrade()
    store = photo_store_for(settings)
    engine = DialogEngine(db, settings, store, handlers.route)
    return Runtime(settings=settings, db=db, photo_store=store, engine=engine)
