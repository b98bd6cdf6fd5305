"""Repositories: the only code that issues queries. One module per aggregate, each bound to a session."""

from storage.repositories.audit import AuditRepository
from storage.repositories.citizens import CitizenRepository
from storage.repositories.complaints import ComplaintRepository
from storage.repositories.consumers import ConsumerRepository, NearbyConsumer, NearbyPage
from storage.repositories.dialog_states import DialogStateRepository
from storage.repositories.inbound import InboundRepository, Sender
from storage.repositories.inbox import InboxRepository
from storage.repositories.officers import OfficerRepository
from storage.repositories.outbox import OutboxRepository, queued_in
from storage.repositories.processed_updates import ProcessedUpdateRepository
from storage.repositories.rewards import RewardRepository

__all__ = [
    "AuditRepository",
    "CitizenRepository",
    "ComplaintRepository",
    "ConsumerRepository",
    "DialogStateRepository",
    "InboundRepository",
    "InboxRepository",
    "NearbyConsumer",
    "NearbyPage",
    "OfficerRepository",
    "OutboxRepository",
    "ProcessedUpdateRepository",
    "RewardRepository",
    "Sender",
    "queued_in",
]
