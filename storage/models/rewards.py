"""Rewards owed to informants and the payouts that settle them; money is integer paise."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        Index("ix_rewards_state_due", "state", "due_at"),
        Index("ix_rewards_state_next_attempt", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"), index=True)
    slab: Mapped[str] = mapped_column(String(40))
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    # scheduled -> due -> paying -> paid; held (appeal), cancelled, failed, awaiting_bank (see bot/rewards)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Which payout this is (1, 2, ...): it grows only after a payout failed for good, and names the
    # idempotency key, so a retry of the same payout always carries the same key.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # While paying: when a worker may next look at it (a lease while one works on it, then a backoff).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The bank's reference (UTR) of the transfer that paid it.
    bank_reference: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "officer:<id>" or "admin"
    appealed_by: Mapped[str | None] = mapped_column(String(32))
    appeal_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # company (the finding stands: the reward is paid) or appellant (the finding fell: cancelled)
    appeal_outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    # Sent to the provider with every attempt so that a retry never pays twice.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_reference: Mapped[str | None] = mapped_column(String(80))
    # The provider's handle for the beneficiary (RazorpayX fund account), reused by every retry.
    provider_account: Mapped[str | None] = mapped_column(String(80))
    utr: Mapped[str | None] = mapped_column(String(40))
    # bank-file: the bulk-upload batch the payout was exported in.
    batch: Mapped[str | None] = mapped_column(String(40), index=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    # pending (written before the provider is called; bank-file: in the ledger) -> processing (accepted;
    # bank-file: exported in a batch) -> paid | failed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
