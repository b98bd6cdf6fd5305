"""Complaints, their photos and their status history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage import geo
from storage.geo import cell_of
from storage.models import Complaint, ComplaintFollower, ComplaintPhoto, StatusChange, utcnow

# Internal statuses and what the citizen is shown for each.
CITIZEN_STATUS = {
    "pending": "pending",
    "assigned": "in_process",
    "accepted": "in_process",
    "inspecting": "in_process",
    "complete": "complete",
}
OPEN_STATUSES = ("pending", "assigned", "accepted", "inspecting")


class StaleTransition(Exception):
    """The complaint was not in the expected status any more (someone else moved it first)."""


@dataclass(frozen=True)
class NewPhoto:
    content_hash: str
    path: str
    width: int
    height: int
    size_bytes: int
    perceptual_hash: str | None = None


class ComplaintRepository:
    def __init__(self, session: AsyncSession, id_prefix: str = "VM") -> None:
        self.session = session
        self.id_prefix = id_prefix

    async def create(
        self,
        *,
        citizen_id: int,
        category: str,
        channel: str,
        photos: list[NewPhoto],
        consumer_id: int | None = None,
        target_ivrs: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        district: str | None = None,
        note: str | None = None,
    ) -> Complaint:
        """File a complaint with its photos and its first history row; the public id is derived from the row id."""
        now = utcnow()
        complaint = Complaint(
            citizen_id=citizen_id,
            category=category,
            channel=channel,
            consumer_id=consumer_id,
            target_ivrs=target_ivrs,
            latitude=latitude,
            longitude=longitude,
            cell=cell_of(latitude, longitude) if latitude is not None and longitude is not None else None,
            district=district,
            note=note,
            status="pending",
            created_at=now,
        )
        complaint.photos = [
            ComplaintPhoto(
                content_hash=p.content_hash,
                path=p.path,
                width=p.width,
                height=p.height,
                size_bytes=p.size_bytes,
                perceptual_hash=p.perceptual_hash,
            )
            for p in photos
        ]
        complaint.history = [StatusChange(from_status=None, to_status="pending", actor_kind="citizen", created_at=now)]
        self.session.add(complaint)
        await self.session.flush()
        complaint.public_id = f"{self.id_prefix}-{now.year}-{complaint.id:06d}"
        await self.session.flush()
        return complaint

    async def get(self, complaint_id: int) -> Complaint | None:
        return await self.session.get(Complaint, complaint_id)

    async def by_public_id(self, public_id: str) -> Complaint | None:
        stmt = (
            select(Complaint)
            .where(Complaint.public_id == public_id.strip().upper())
            .options(selectinload(Complaint.photos), selectinload(Complaint.history))
        )
        return await self.session.scalar(stmt)

    async def of_citizen(self, citizen_id: int, limit: int = 20, offset: int = 0) -> list[Complaint]:
        """The citizen's complaints, newest first."""
        stmt = (
            select(Complaint)
            .where(Complaint.citizen_id == citizen_id)
            .order_by(Complaint.created_at.desc(), Complaint.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(await self.session.scalars(stmt))

    async def filed_since(self, citizen_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many complaints the citizen filed since a moment, and when the latest was filed."""
        stmt = select(func.count(), func.max(Complaint.created_at)).where(
            Complaint.citizen_id == citizen_id, Complaint.created_at >= since
        )
        count, latest = (await self.session.execute(stmt)).one()
        if isinstance(latest, datetime) and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)  # aggregates bypass the column type on SQLite
        elif isinstance(latest, str):
            latest = datetime.fromisoformat(latest).replace(tzinfo=UTC)
        return int(count), latest

    async def count_of_citizen(self, citizen_id: int) -> int:
        stmt = select(func.count()).select_from(Complaint).where(Complaint.citizen_id == citizen_id)
        return int(await self.session.scalar(stmt) or 0)

    async def history(self, complaint_id: int) -> list[StatusChange]:
        stmt = select(StatusChange).where(StatusChange.complaint_id == complaint_id).order_by(StatusChange.id)
        return list(await self.session.scalars(stmt))

    async def photos(self, complaint_id: int) -> list[ComplaintPhoto]:
        stmt = select(ComplaintPhoto).where(ComplaintPhoto.complaint_id == complaint_id).order_by(ComplaintPhoto.id)
        return list(await self.session.scalars(stmt))

    async def open_against_ivrs(self, ivrs: str) -> list[Complaint]:
        stmt = select(Complaint).where(Complaint.target_ivrs == ivrs, Complaint.status.in_(OPEN_STATUSES))
        return list(await self.session.scalars(stmt))

    async def transition(
        self,
        complaint: Complaint,
        to_status: str,
        *,
        actor_kind: str,
        actor_id: int | None = None,
        outcome: str | None = None,
        note: str | None = None,
    ) -> StatusChange:
        """Move a complaint to a new status and write the history row; refuses if another writer moved it first."""
        from_status = complaint.status
        result = await self.session.execute(
            Complaint.__table__.update()
            .where(Complaint.id == complaint.id, Complaint.status == from_status)
            .values(status=to_status, outcome=outcome, updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise StaleTransition(f"complaint {complaint.public_id} is no longer {from_status}")
        change = StatusChange(
            complaint_id=complaint.id,
            from_status=from_status,
            to_status=to_status,
            outcome=outcome,
            actor_kind=actor_kind,
            actor_id=actor_id,
            note=note,
        )
        self.session.add(change)
        await self.session.flush()
        await self.session.refresh(complaint)
        return change

    async def counts_by(self, since: datetime | None = None) -> list[tuple[str | None, str, int]]:
        """(district, status, count) over all complaints: the public audit numbers."""
        stmt = select(Complaint.district, Complaint.status, func.count()).group_by(Complaint.district, Complaint.status)
        if since is not None:
            stmt = stmt.where(Complaint.created_at >= since)
        return [(d, s, int(n)) for d, s, n in (await self.session.execute(stmt)).all()]

    async def confirmed_by_district(self) -> dict[str, int]:
        """Complaints whose irregularity was confirmed, per district."""
        stmt = (
            select(Complaint.district, func.count())
            .where(Complaint.status == "complete", Complaint.outcome == "confirmed")
            .group_by(Complaint.district)
        )
        return {district or "": int(n) for district, n in (await self.session.execute(stmt)).all()}

    async def similar_open(
        self, *, ivrs: str | None, category: str, latitude: float | None, longitude: float | None, radius_m: float = 50
    ) -> list[Complaint]:
        """Open complaints against the same IVRS, or of the same category within radius_m of the point."""
        found: dict[int, Complaint] = {}
        if ivrs:
            for complaint in await self.open_against_ivrs(ivrs):
                found[complaint.id] = complaint
        if latitude is not None and longitude is not None and geo.valid_coordinates(latitude, longitude):
            ranges = geo.covering_ranges(latitude, longitude, radius_m)
            cells = [Complaint.cell.between(r.first, r.last) for r in ranges]
            stmt = select(Complaint).where(
                or_(*cells), Complaint.category == category, Complaint.status.in_(OPEN_STATUSES)
            )
            for complaint in await self.session.scalars(stmt):
                assert complaint.latitude is not None and complaint.longitude is not None
                if geo.haversine_m(latitude, longitude, complaint.latitude, complaint.longitude) <= radius_m:
                    found[complaint.id] = complaint
        return sorted(found.values(), key=lambda c: c.id)

    async def follow(self, complaint_id: int, citizen_id: int) -> None:
        """Subscribe a citizen to a complaint's updates (once)."""
        exists = await self.session.scalar(
            select(ComplaintFollower.id).where(
                ComplaintFollower.complaint_id == complaint_id, ComplaintFollower.citizen_id == citizen_id
            )
        )
        if exists is None:
            self.session.add(ComplaintFollower(complaint_id=complaint_id, citizen_id=citizen_id))
            await self.session.flush()

    async def followers(self, complaint_id: int) -> list[int]:
        stmt = select(ComplaintFollower.citizen_id).where(ComplaintFollower.complaint_id == complaint_id)
        return list(await self.session.scalars(stmt))

    async def followed_by(self, citizen_id: int, limit: int = 20) -> list[Complaint]:
        """Complaints the citizen follows (filed by someone else), newest first."""
        stmt = (
            select(Complaint)
            .join(ComplaintFollower, ComplaintFollower.complaint_id == Complaint.id)
            .where(ComplaintFollower.citizen_id == citizen_id)
            .order_by(Complaint.created_at.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def photo_reuse(self, complaint_id: int, max_distance: int = 6, window: int = 5000) -> list[str]:
        """Other complaints whose photos are the same (content hash) or near copies (perceptual hash)."""
        mine = await self.photos(complaint_id)
        if not mine:
            return []
        hashes = [p.content_hash for p in mine]
        exact = (
            select(Complaint.public_id)
            .join(ComplaintPhoto, ComplaintPhoto.complaint_id == Complaint.id)
            .where(ComplaintPhoto.content_hash.in_(hashes), Complaint.id != complaint_id)
        )
        reused = set(await self.session.scalars(exact))
        recent = (
            select(ComplaintPhoto.perceptual_hash, Complaint.public_id)
            .join(Complaint, ComplaintPhoto.complaint_id == Complaint.id)
            .where(Complaint.id != complaint_id, ComplaintPhoto.perceptual_hash.is_not(None))
            .order_by(ComplaintPhoto.id.desc())
            .limit(window)
        )
        mine_phash = [int(p.perceptual_hash, 16) for p in mine if p.perceptual_hash]
        for phash, public_id in (await self.session.execute(recent)).all():
            other = int(phash, 16)
            if any((other ^ own).bit_count() <= max_distance for own in mine_phash):
                reused.add(public_id)
        return sorted(p for p in reused if p)
