"""The audit log: who viewed or changed sensitive data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, actor: str, action: str, subject: str | None = None, **details: Any) -> AuditEntry:
        entry = AuditEntry(actor=actor, action=action, subject=subject, details=details)
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return list(rows)
