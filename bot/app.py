"""Assembly of the runtime: database, photo store, dialog engine, notifier and timers built from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import handlers
from bot.config import Settings
from bot.engine import DialogEngine
from bot.notifier import ChannelRate, Notifier
from bot.rewards import lifecycle
from bot.rewards.payouts import provider_for
from bot.rewards.watch import RewardWatch
from bot.service_area import APPROXIMATE_WARNING, ServiceArea, service_area_for
from bot.sla import SlaWatch
from storage.consumer_import import repair_register
from storage.db import Database
from storage.photo_store import PhotoStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a channel adapter needs to serve users."""

    settings: Settings
    db: Database
    photo_store: PhotoStore
    engine: DialogEngine
    notifier: Notifier
    sla: SlaWatch
    rewards: RewardWatch | None = None
    # The served districts (handlers reach the same object through service_area_for(ctx.settings.service_area)).
    service_area: ServiceArea | None = None

    async def start_background(self) -> None:
        """Start the notifier, the SLA timers and the reward payments (channels register with the notifier first)."""
        await self.notifier.start()
        await self.sla.start()
        if self.rewards is not None:
            await self.rewards.start()

    async def close(self) -> None:
        await self.engine.drain()
        await self.sla.stop()
        if self.rewards is not None:
            await self.rewards.close()
        await self.notifier.stop()
        await self.db.dispose()


def photo_store_for(settings: Settings) -> PhotoStore:
    limits = settings.photos
    return PhotoStore(
        settings.photo_dir, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, min_side_px=limits.min_side_px
    )


def notifier_for(settings: Settings, db: Database) -> Notifier:
    """A notifier with each channel's pace from the settings; adapters are added as channels start."""
    n = settings.notifier
    rates = {
        "telegram": ChannelRate(n.telegram_per_second, n.telegram_per_chat_interval.total_seconds()),
        "whatsapp": ChannelRate(n.whatsapp_per_second, n.whatsapp_per_chat_interval.total_seconds()),
        "webchat": ChannelRate(n.webchat_per_second, 0.0),
    }
    return Notifier(db, {}, rates, poll_interval_s=n.poll_every.total_seconds(), max_attempts=n.max_attempts)


async def build_runtime(settings: Settings, db: Database | None = None) -> Runtime:
    """Open (and migrate) the database and wire the engine to the flows in handlers/."""
    area = service_area_for(settings.service_area)  # a bad boundaries file stops start-up before anything opens
    if area.has_boundaries:
        log.info("service area: %s", area.describe())
    else:
        log.warning(APPROXIMATE_WARNING)
    if db is None:
        db = Database(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)
        await db.upgrade()
        await repair_register(db)  # after an import that was killed half way
    store = photo_store_for(settings)
    engine = DialogEngine(db, settings, store, handlers.route)
    notifier = notifier_for(settings, db)
    sla = SlaWatch(db, settings, on_committed=notifier.wake)
    lifecycle.install()
    rewards = RewardWatch(db, settings, provider_for(settings), on_committed=notifier.wake)

    def committed(queued_pushes: bool) -> None:
        if queued_pushes:
            notifier.wake()
        rewards.poke()

    engine.on_committed = committed
    return Runtime(
        settings=settings,
        db=db,
        photo_store=store,
        engine=engine,
        notifier=notifier,
        sla=sla,
        rewards=rewards,
        service_area=area,
    )
