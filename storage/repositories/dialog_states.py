"""Persistent dialog state, one row per user key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from storage.models import DialogState, utcnow

# Built once: every inbound update runs one of them.
_TABLE = DialogState.__table__
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.user_key == bindparam("key"))
    .values(
        step=bindparam("new_step"),
        data=bindparam("new_data", type_=_TABLE.c.data.type),
        version=_TABLE.c.version + 1,
        updated_at=bindparam("now", type_=_TABLE.c.updated_at.type),
    )
)
_INSERT = insert(_TABLE).values(
    user_key=bindparam("key"),
    step=bindparam("new_step"),
    data=bindparam("new_data", type_=_TABLE.c.data.type),
    version=1,
    updated_at=bindparam("now", type_=_TABLE.c.updated_at.type),
)


class DialogStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, user_key: str) -> DialogState | None:
        return await self.session.get(DialogState, user_key)

    async def save(self, user_key: str, step: str, data: dict[str, Any]) -> None:
        """Write where the user now stands: one UPDATE (an INSERT the first time), no unit-of-work flush."""
        params = {"key": user_key, "new_step": step, "new_data": dict(data), "now": utcnow()}
        result = await self.session.execute(_UPDATE, params)
        if result.rowcount == 0:
            await self.session.execute(_INSERT, params)
        loaded = self.session.sync_session.identity_map.get(identity_key(DialogState, user_key))
        if loaded is not None:
            self.session.expire(loaded)  # a later load() in this session reads the row again

    async def clear(self, user_key: str) -> None:
        state = await self.session.get(DialogState, user_key)
        if state is not None:
            await self.session.delete(state)
            await self.session.flush()
