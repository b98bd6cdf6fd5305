"""Photo retention: closed complaints past the period lose their files; shared or recent files stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from storage.db import Database
from storage.models import Complaint, ComplaintPhoto, utcnow
from storage.photo_retention import purge_photos
from storage.photo_store import PhotoStore
from storage.repositories import CitizenRepository, ComplaintRepository
from storage.repositories.complaints import NewPhoto
from tests.conversation import jpeg_bytes


async def file_with(db: Database, store: PhotoStore, color: tuple[int, int, int], user: str) -> int:
    stored = store.ingest(jpeg_bytes(color=color))
    async with db.transaction() as session:
        identity = await CitizenRepository(session).identity_or_create("telegram", user, "en")
        photo = NewPhoto(stored.content_hash, stored.path, stored.width, stored.height, stored.size_bytes)
        complaint = await ComplaintRepository(session).create(
            citizen_id=identity.citizen_id, category="theft", channel="telegram", photos=[photo]
        )
        return complaint.id


async def test_old_closed_complaints_lose_their_photos(db: Database, tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos", max_bytes=10**7, max_pixels=10**8)
    old = await file_with(db, store, (200, 0, 0), "1")
    shared = await file_with(db, store, (0, 200, 0), "2")
    await file_with(db, store, (0, 200, 0), "3")  # the same picture, complaint still open
    recent = await file_with(db, store, (0, 0, 200), "4")
    long_ago = utcnow() - timedelta(days=800)
    async with db.transaction() as session:
        await session.execute(
            update(Complaint).where(Complaint.id.in_([old, shared])).values(status="complete", updated_at=long_ago)
        )
        await session.execute(update(Complaint).where(Complaint.id == recent).values(status="complete"))
    assert await purge_photos(db, store, utcnow() - timedelta(days=730)) == 1
    async with db.reader() as session:
        paths = dict((await session.execute(select(ComplaintPhoto.complaint_id, ComplaintPhoto.path))).all())
    assert paths[old] == "" and paths[shared] == ""
    assert paths[recent] != "" and store.path_of(paths[recent]).exists()
    assert len(list(store.root.rglob("*.jpg"))) == 2  # the shared file stays for the open complaint
    assert await purge_photos(db, store, utcnow() - timedelta(days=730)) == 0
