"""Persistent dialog state, one row per user key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from storage.models import DialogState


class DialogStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, user_key: str) -> DialogState | None:
        return await self.session.get(DialogState, user_key)

    async def save(self, user_key: str, step: str, data: dict[str, Any]) -> DialogState:
        state = await self.session.get(DialogState, user_key)
        if state is None:
            state = DialogState(user_key=user_key, step=step, data=dict(data), version=1)
            self.session.add(state)
        else:
            state.step = step
            state.data = dict(data)
            # Nested lists and dicts may have been changed in place: always write the column.
            flag_modified(state, "data")
            state.version += 1
        await self.session.flush()
        return state

    async def clear(self, user_key: str) -> None:
        state = await self.session.get(DialogState, user_key)
        if state is not None:
            await self.session.delete(state)
            await self.session.flush()
