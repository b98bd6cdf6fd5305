"""The consumer register: look-ups by IVRS and the nearby search."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import geo
from storage.models import Consumer

IVRS_LOOSE = re.compile(r"^[A-Z0-9]{6,20}$")


def normalise_ivrs(text: str) -> str | None:
    """IVRS as stored (upper case, no spaces or dashes), or None if it cannot be one."""
    cleaned = re.sub(r"[\s\-./]", "", text or "").upper()
    return cleaned if IVRS_LOOSE.match(cleaned) and any(ch.isdigit() for ch in cleaned) else None


@dataclass(frozen=True)
class NearbyConsumer:
    consumer: Consumer
    distance_m: float


@dataclass(frozen=True)
class NearbyPage:
    items: list[NearbyConsumer]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.page_size < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 0


class ConsumerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_ivrs(self, ivrs: str) -> Consumer | None:
        normalised = normalise_ivrs(ivrs)
        if normalised is None:
            return None
        return await self.session.scalar(select(Consumer).where(Consumer.ivrs == normalised))

    async def get(self, consumer_id: int) -> Consumer | None:
        return await self.session.get(Consumer, consumer_id)

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Consumer)) or 0)

    async def add(self, consumer: Consumer) -> Consumer:
        """Add one consumer, filling its spatial columns from its coordinates."""
        if consumer.latitude is not None and consumer.longitude is not None:
            consumer.cell = geo.cell_of(consumer.latitude, consumer.longitude)
            consumer.ux, consumer.uy, consumer.uz = geo.unit_vector(consumer.latitude, consumer.longitude)
        self.session.add(consumer)
        await self.session.flush()
        return consumer

    async def nearby(self, lat: float, lon: float, radius_m: float, page: int = 0, page_size: int = 10) -> NearbyPage:
        """Consumers within radius_m of the point, nearest first (ties by IVRS), one page at a time."""
        if not geo.valid_coordinates(lat, lon):
            raise ValueError("coordinates out of range")
        page = max(0, page)
        x, y, z = geo.unit_vector(lat, lon)
        chord2 = (
            (Consumer.ux - literal(x)) * (Consumer.ux - literal(x))
            + (Consumer.uy - literal(y)) * (Consumer.uy - literal(y))
            + (Consumer.uz - literal(z)) * (Consumer.uz - literal(z))
        )
        ranges = geo.covering_ranges(lat, lon, radius_m)
        in_cells = or_(*(Consumer.cell.between(r.first, r.last) for r in ranges))
        where = and_(in_cells, chord2 <= literal(geo.chord2_for_distance(radius_m)))
        total = int(await self.session.scalar(select(func.count()).select_from(Consumer).where(where)) or 0)
        if total == 0:
            return NearbyPage([], 0, page, page_size)
        stmt = (
            select(Consumer, chord2.label("chord2"))
            .where(where)
            .order_by(chord2, Consumer.ivrs)
            .limit(page_size)
            .offset(page * page_size)
        )
        rows = (await self.session.execute(stmt)).all()
        items = [NearbyConsumer(row[0], geo.distance_for_chord2(row[1])) for row in rows]
        return NearbyPage(items, total, page, page_size)
