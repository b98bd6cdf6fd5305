"""Exactly-once bookkeeping for inbound updates."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate, utcnow

_MARK = insert(ProcessedUpdate.__table__)  # built once: every inbound update runs it


class ProcessedUpdateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, channel: str, update_id: str) -> bool:
        stmt = select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.channel == channel, ProcessedUpdate.update_id == update_id
        )
        return await self.session.scalar(stmt) is not None

    async def mark(self, channel: str, update_id: str) -> None:
        """Record the update; a concurrent duplicate fails the primary key and rolls its transaction back."""
        await self.session.execute(_MARK, {"channel": channel, "update_id": update_id, "processed_at": utcnow()})
