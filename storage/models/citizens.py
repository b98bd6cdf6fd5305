"""Citizens (informants) and the channel identities through which they reach the bot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, utcnow


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    language: Mapped[str] = mapped_column(String(5), default="en")
    # E.164, e.g. +919876543210; the key that joins one person's Telegram and WhatsApp.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bank account: Fernet ciphertext; only the last four digits are kept in the clear.
    bank_account_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_last4: Mapped[str | None] = mapped_column(String(4))
    # The account holder's name and the IFSC, Fernet ciphertext like the account number.
    bank_holder_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_ifsc_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where pushes go: the channel identity the citizen used most recently.
    last_identity_id: Mapped[int | None] = mapped_column(Integer)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="citizen")


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_identities_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    citizen: Mapped[Citizen] = relationship(back_populates="identities")

    @property
    def user_key(self) -> str:
        return f"{self.channel}:{self.external_id}"
