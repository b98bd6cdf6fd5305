"""All models, importable from one place (Alembic reads Base.metadata from here)."""

from storage.models.base import Base, UTCDateTime, utcnow
from storage.models.citizens import ChannelIdentity, Citizen
from storage.models.complaints import Complaint, ComplaintFollower, ComplaintPhoto, StatusChange
from storage.models.consumers import Consumer
from storage.models.officers import Assignment, Officer
from storage.models.outbox import OutboxMessage
from storage.models.rewards import Payout, Reward
from storage.models.system import AuditEntry, DialogState, InboxUpdate, ProcessedUpdate

__all__ = [
    "Assignment",
    "AuditEntry",
    "Base",
    "ChannelIdentity",
    "Citizen",
    "Complaint",
    "ComplaintFollower",
    "ComplaintPhoto",
    "Consumer",
    "DialogState",
    "InboxUpdate",
    "Officer",
    "OutboxMessage",
    "Payout",
    "ProcessedUpdate",
    "Reward",
    "StatusChange",
    "UTCDateTime",
    "utcnow",
]
