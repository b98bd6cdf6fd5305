"""The outbox of pushed messages: enqueue in the caller's transaction, claim in order, settle once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import OutboxMessage, utcnow

UNSETTLED = ("pending", "sending")


_QUEUED = "outbox_queued"


def queued_in(session: AsyncSession) -> bool:
    """Whether this session queued a message (so the notifier has something new to look at)."""
    return bool(session.info.get(_QUEUED))


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, channel: str, external_id: str, payload: dict[str, Any], kind: str = "generic") -> int:
        """Queue one message; it is sent only if the surrounding transaction commits."""
        message = OutboxMessage(channel=channel, external_id=external_id, payload=payload, kind=kind)
        self.session.add(message)
        await self.session.flush()
        self.session.info[_QUEUED] = True
        return message.id

    async def due(self, now: datetime, limit: int = 200) -> list[OutboxMessage]:
        """Pending messages that may go now: for each address only the oldest unsettled one, so order holds."""
        earlier = aliased(OutboxMessage)
        blocked = exists().where(
            and_(
                earlier.channel == OutboxMessage.channel,
                earlier.external_id == OutboxMessage.external_id,
                earlier.id < OutboxMessage.id,
                earlier.state.in_(UNSETTLED),
            )
        )
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.not_before <= now, ~blocked)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def claim(self, message_id: int) -> bool:
        """Take a pending message for sending; False if another worker took it first."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
            .values(state="sending", claimed_at=utcnow(), attempts=OutboxMessage.attempts + 1)
        )
        return result.rowcount == 1

    async def mark_sent(self, message_id: int) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(state="sent", sent_at=utcnow(), last_error=None)
        )

    async def defer(self, message_id: int, until: datetime, error: str) -> None:
        """Put a message back to wait (flood control, a temporary failure)."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(state="pending", not_before=until, last_error=error[:500])
        )

    async def fail(self, message_id: int, error: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(state="failed", last_error=error[:500])
        )

    async def release_claimed_before(self, cutoff: datetime) -> int:
        """Return messages claimed before `cutoff` by a process that died to the queue (they may go out twice)."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending", OutboxMessage.claimed_at < cutoff)
            .values(state="pending")
        )
        return result.rowcount

    async def counts(self) -> dict[str, int]:
        rows = await self.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))
        return {state: int(n) for state, n in rows.all()}

    async def next_due_at(self) -> datetime | None:
        stmt = select(func.min(OutboxMessage.not_before)).where(OutboxMessage.state == "pending")
        return await self.session.scalar(stmt)
