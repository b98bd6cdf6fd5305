"""The inbox of fetched updates: written before Telegram is told to forget them, deleted once handled."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxUpdate, utcnow

_TABLE = InboxUpdate.__table__
# INSERT .. ON CONFLICT DO NOTHING RETURNING: one statement stores a batch and says which were new.
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep(self, channel: str, updates: Sequence[tuple[int, dict[str, Any]]]) -> set[int]:
        """Store the updates not stored yet; returns their ids (the others are already being handled)."""
        if not updates:
            return set()
        now = utcnow()
        rows = [
            {"channel": channel, "update_id": update_id, "payload": payload, "received_at": now}
            for update_id, payload in updates
        ]
        insert = _INSERTS[self.session.bind.dialect.name]
        stmt = insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.update_id)
        return set(await self.session.scalars(stmt, rows))

    async def remove(self, channel: str, update_ids: Iterable[int]) -> None:
        """Forget updates that have been handled to the end."""
        ids = list(update_ids)
        if ids:
            await self.session.execute(delete(_TABLE).where(_TABLE.c.channel == channel, _TABLE.c.update_id.in_(ids)))

    async def pending(self, channel: str) -> list[tuple[int, dict[str, Any]]]:
        """Updates fetched by an earlier run and never finished, oldest first."""
        rows = await self.session.execute(
            select(InboxUpdate.update_id, InboxUpdate.payload)
            .where(InboxUpdate.channel == channel)
            .order_by(InboxUpdate.update_id)
        )
        return [(update_id, payload) for update_id, payload in rows]
