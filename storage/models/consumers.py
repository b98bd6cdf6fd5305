"""The consumer register: one row per electricity connection, with its spatial index columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class Consumer(Base):
    __tablename__ = "consumers"
    __table_args__ = (
        # Covering index for the nearby search: the grid cell selects, the unit vector ranks,
        # so the search never has to visit the table for rows outside the circle.
        Index("ix_consumers_cell_vec", "cell", "ux", "uy", "uz"),
        Index("ix_consumers_district", "district"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ivrs: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    district: Mapped[str | None] = mapped_column(String(60))
    category: Mapped[str | None] = mapped_column(String(20))
    sanctioned_load_kw: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # Grid cell (see storage/geo.py) and the point as a unit vector on the sphere.
    cell: Mapped[int | None] = mapped_column(BigInteger)
    ux: Mapped[float | None] = mapped_column(Float)
    uy: Mapped[float | None] = mapped_column(Float)
    uz: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
