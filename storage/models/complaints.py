"""Complaints, their photos and the history of every status change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, utcnow


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_citizen_created", "citizen_id", "created_at"),
        Index("ix_complaints_status", "status"),
        Index("ix_complaints_target_ivrs", "target_ivrs"),
        Index("ix_complaints_cell", "cell"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(24), unique=True)
    # Null once the citizen has erased their data: the record stays, anonymised.
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(40))
    consumer_id: Mapped[int | None] = mapped_column(ForeignKey("consumers.id", ondelete="SET NULL"))
    target_ivrs: Mapped[str | None] = mapped_column(String(20))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    cell: Mapped[int | None] = mapped_column(BigInteger)
    district: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    # pending -> assigned -> accepted -> inspecting -> complete (outcome says what was found)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(16))
    assessed_amount_paise: Mapped[int | None] = mapped_column(BigInteger)
    case_reference: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    photos: Mapped[list[ComplaintPhoto]] = relationship(
        back_populates="complaint", order_by="ComplaintPhoto.id", cascade="all, delete-orphan"
    )
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="complaint", order_by="StatusChange.id", cascade="all, delete-orphan"
    )


class ComplaintPhoto(Base):
    __tablename__ = "complaint_photos"
    __table_args__ = (UniqueConstraint("complaint_id", "content_hash", name="uq_complaint_photos_complaint_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the stored (EXIF-free) bytes; also the file name in the photo store.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    perceptual_hash: Mapped[str | None] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(300))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    complaint: Mapped[Complaint] = relationship(back_populates="photos")


class StatusChange(Base):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    # citizen, officer, system or admin; actor_id is the officer's id for officers.
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    complaint: Mapped[Complaint] = relationship(back_populates="history")


class ComplaintFollower(Base):
    """A citizen who chose to follow an open complaint instead of filing the same one again."""

    __tablename__ = "complaint_followers"
    __table_args__ = (UniqueConstraint("complaint_id", "citizen_id", name="uq_complaint_followers_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
