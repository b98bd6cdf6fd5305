"""Persistent dialog state, one row per user key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from storage.models import DialogState, utcnow


class DialogStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, user_key: str) -> DialogState | None:
        return await self.session.get(DialogState, user_key)

    async def save(self, user_key: str, step: str, data: dict[str, Any]) -> None:
        """Write where the user now stands: one UPDATE (an INSERT the first time), no unit-of-work flush."""
        table = DialogState.__table__
        values = {"step": step, "data": dict(data), "updated_at": utcnow()}
        result = await self.session.execute(
            update(table).where(table.c.user_key == user_key).values(version=table.c.version + 1, **values)
        )
        if result.rowcount == 0:
            await self.session.execute(insert(table).values(user_key=user_key, version=1, **values))
        loaded = self.session.sync_session.identity_map.get(identity_key(DialogState, user_key))
        if loaded is not None:
            self.session.expire(loaded)  # a later load() in this session reads the row again

    async def clear(self, user_key: str) -> None:
        state = await self.session.get(DialogState, user_key)
        if state is not None:
            await self.session.delete(state)
            await self.session.flush()
