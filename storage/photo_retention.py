"""Photo retention: files of complaints closed longer ago than the retention period are deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from storage.db import Database
from storage.models import Complaint, ComplaintPhoto
from storage.photo_store import PhotoStore

PURGED = ""  # ComplaintPhoto.path once its file is gone; the content hash stays for duplicate checks


async def purge_photos(db: Database, store: PhotoStore, closed_before: datetime) -> int:
    """Delete the photo files of complaints completed before the cutoff; returns how many files went."""
    async with db.transaction() as session:
        old = (
            select(ComplaintPhoto.id, ComplaintPhoto.path)
            .join(Complaint, ComplaintPhoto.complaint_id == Complaint.id)
            .where(Complaint.status == "complete", Complaint.updated_at < closed_before, ComplaintPhoto.path != PURGED)
        )
        rows = (await session.execute(old)).all()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        await session.execute(update(ComplaintPhoto).where(ComplaintPhoto.id.in_(ids)).values(path=PURGED))
        # Files are shared by content: keep any that a complaint still within retention uses.
        paths = {row.path for row in rows}
        still_used = set(await session.scalars(select(ComplaintPhoto.path).where(ComplaintPhoto.path.in_(paths))))
    removed = 0
    for path in paths - still_used:
        target = store.path_of(path)
        if target.exists():
            target.unlink()
            removed += 1
    return removed
