"""Bookkeeping rows: the inbox of fetched updates, processed updates, dialog state and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class InboxUpdate(Base):
    """An update fetched from a channel and not yet handled to the end, kept so a crash cannot lose it.

    Telegram forgets an update once the next getUpdates call confirms it; the row is written first
    and deleted when the update has been handled, so updates in progress at a crash are replayed.
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (PrimaryKeyConstraint("channel", "update_id"),)

    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessedUpdate(Base):
    """One row per inbound update handled, written in the same transaction as its effects."""

    __tablename__ = "processed_updates"
    __table_args__ = (PrimaryKeyConstraint("channel", "update_id"),)

    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DialogState(Base):
    """Where one user's conversation stands, so that it survives restarts and spans processes."""

    __tablename__ = "dialog_states"

    user_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    step: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """Who looked at or changed sensitive data, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
