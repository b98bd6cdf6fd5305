"""Repository contract: the same suite runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Consumer, utcnow
from storage.repositories import (
    AuditRepository,
    CitizenRepository,
    ComplaintRepository,
    ConsumerRepository,
    DialogStateRepository,
    InboxRepository,
    OfficerRepository,
    ProcessedUpdateRepository,
    RewardRepository,
)
from storage.repositories.complaints import NewPhoto, StaleTransition

PHOTO = NewPhoto(content_hash="a" * 64, path="photos/aa/" + "a" * 64 + ".jpg", width=640, height=480, size_bytes=1234)


async def test_first_contact_creates_an_unregistered_citizen(db: Database) -> None:
    async with db.transaction() as s:
        identity = await CitizenRepository(s).identity_or_create("telegram", "111", "hi")
        assert identity.citizen.registered_at is None
        assert identity.citizen.language == "hi"
    async with db.transaction() as s:
        again = await CitizenRepository(s).identity_or_create("telegram", "111", "en")
        assert again.id == identity.id
        assert again.citizen.language == "hi"


async def test_same_phone_on_two_channels_is_one_citizen(db: Database) -> None:
    async with db.transaction() as s:
        repo = CitizenRepository(s)
        tg = await repo.identity_or_create("telegram", "42", "en")
        citizen = await repo.register_phone(tg, "+919876543210")
        wa = await repo.identity_or_create("whatsapp", "+919876543210", "en")
        joined = await repo.register_phone(wa, "+919876543210")
        assert joined.id == citizen.id
        assert {i.channel for i in await repo.identities_of(citizen.id)} == {"telegram", "whatsapp"}


async def test_complaint_gets_public_id_photos_and_history(db: Database) -> None:
    async with db.transaction() as s:
        identity = await CitizenRepository(s).identity_or_create("telegram", "7", "en")
        consumer = await ConsumerRepository(s).add(
            Consumer(ivrs="N3330008565", district="Jabalpur", latitude=23.18, longitude=79.95)
        )
        complaints = ComplaintRepository(s)
        complaint = await complaints.create(
            citizen_id=identity.citizen_id,
            category="meter_tampering",
            channel="telegram",
            photos=[PHOTO],
            consumer_id=consumer.id,
            target_ivrs=consumer.ivrs,
            district="Jabalpur",
        )
    year = complaint.created_at.year
    assert complaint.public_id == f"VM-{year}-{complaint.id:06d}"
    async with db.transaction() as s:
        complaints = ComplaintRepository(s)
        loaded = await complaints.by_public_id(complaint.public_id.lower())
        assert loaded is not None
        assert [p.content_hash for p in loaded.photos] == ["a" * 64]
        assert [(h.from_status, h.to_status) for h in loaded.history] == [(None, "pending")]
        assert [c.id for c in await complaints.open_against_ivrs("N3330008565")] == [loaded.id]
        await complaints.transition(loaded, "assigned", actor_kind="system")
        assert loaded.status == "assigned"
        history = await complaints.history(loaded.id)
        assert [(h.from_status, h.to_status) for h in history] == [(None, "pending"), ("pending", "assigned")]
        assert await complaints.count_of_citizen(identity.citizen_id) == 1


async def test_a_stale_transition_is_refused(db: Database) -> None:
    async with db.transaction() as s:
        identity = await CitizenRepository(s).identity_or_create("telegram", "8", "en")
        complaint = await ComplaintRepository(s).create(
            citizen_id=identity.citizen_id, category="theft", channel="telegram", photos=[PHOTO]
        )
    async with db.transaction() as s:
        first = await ComplaintRepository(s).get(complaint.id)
        assert first is not None
        await ComplaintRepository(s).transition(first, "assigned", actor_kind="system")
    with pytest.raises(StaleTransition):
        async with db.transaction() as s:
            # `complaint` still believes it is pending: the guarded UPDATE matches nothing.
            s.add(complaint)
            await ComplaintRepository(s).transition(complaint, "assigned", actor_kind="system")


async def test_processed_update_is_recorded_once(db: Database) -> None:
    async with db.transaction() as s:
        repo = ProcessedUpdateRepository(s)
        assert not await repo.seen("telegram", "1001")
        await repo.mark("telegram", "1001")
    async with db.transaction() as s:
        assert await ProcessedUpdateRepository(s).seen("telegram", "1001")
        assert not await ProcessedUpdateRepository(s).seen("whatsapp", "1001")
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            await ProcessedUpdateRepository(s).mark("telegram", "1001")


async def test_the_inbox_keeps_each_update_once_until_it_is_handled(db: Database) -> None:
    async with db.transaction() as s:
        assert await InboxRepository(s).keep("telegram", [(7, {"update_id": 7}), (8, {"update_id": 8})]) == {7, 8}
    async with db.transaction() as s:  # Telegram hands 8 out again, with a new one
        assert await InboxRepository(s).keep("telegram", [(8, {"update_id": 8}), (9, {"update_id": 9})]) == {9}
        assert await InboxRepository(s).keep("whatsapp", [(8, {"other": True})]) == {8}  # channels apart
    async with db.transaction() as s:
        await InboxRepository(s).remove("telegram", [7, 9])
    async with db.reader() as s:
        assert await InboxRepository(s).pending("telegram") == [(8, {"update_id": 8})]


async def test_dialog_state_round_trips_and_clears(db: Database) -> None:
    async with db.transaction() as s:
        await DialogStateRepository(s).save("telegram:5", "report:photo", {"category": "theft", "photos": ["x"]})
    async with db.transaction() as s:
        repo = DialogStateRepository(s)
        state = await repo.load("telegram:5")
        assert state is not None and state.step == "report:photo"
        assert state.data == {"category": "theft", "photos": ["x"]}
        await repo.save("telegram:5", "report:note", {**state.data, "photos": ["x", "y"]})
    async with db.transaction() as s:
        repo = DialogStateRepository(s)
        state = await repo.load("telegram:5")
        assert state is not None and state.version == 2 and state.data["photos"] == ["x", "y"]
        await repo.clear("telegram:5")
        assert await repo.load("telegram:5") is None


async def test_routing_picks_the_least_loaded_active_inspector(db: Database) -> None:
    async with db.transaction() as s:
        officers = OfficerRepository(s)
        busy = await officers.add(name="A", district="Sagar", role="inspector", channel="telegram", external_id="1")
        free = await officers.add(name="B", district="Sagar", role="inspector", channel="telegram", external_id="2")
        gone = await officers.add(name="C", district="Sagar", role="inspector", channel="telegram", external_id="3")
        await officers.add(name="S", district="Sagar", role="supervisor", channel="telegram", external_id="4")
        await officers.deactivate(gone.id)
        identity = await CitizenRepository(s).identity_or_create("telegram", "9", "en")
        complaint = await ComplaintRepository(s).create(
            citizen_id=identity.citizen_id, category="theft", channel="telegram", photos=[PHOTO]
        )
        await officers.assign(complaint.id, busy.id)
        chosen = await officers.least_loaded_inspector("Sagar")
        assert chosen is not None and chosen.id == free.id
        assert await officers.least_loaded_inspector("Rewa") is None
        assert [o.name for o in await officers.supervisors("Sagar")] == ["S"]
        assert (await officers.by_identity("telegram", "3")) is None


async def test_reward_moves_between_states_only_once(db: Database) -> None:
    async with db.transaction() as s:
        identity = await CitizenRepository(s).identity_or_create("telegram", "10", "en")
        complaint = await ComplaintRepository(s).create(
            citizen_id=identity.citizen_id, category="theft", channel="telegram", photos=[PHOTO]
        )
        rewards = RewardRepository(s)
        reward = await rewards.create(
            complaint_id=complaint.id,
            citizen_id=identity.citizen_id,
            slab="theft",
            amount_paise=150_000,
            due_at=utcnow() - timedelta(seconds=1),
        )
        assert await rewards.due_ids(utcnow()) == [reward.id]
    async with db.transaction() as s:
        assert await RewardRepository(s).move(reward.id, "scheduled", "paying")
    async with db.transaction() as s:
        assert not await RewardRepository(s).move(reward.id, "scheduled", "paying")
        assert await RewardRepository(s).due_ids(utcnow()) == []


async def test_audit_entries_are_kept_in_order(db: Database) -> None:
    async with db.transaction() as s:
        audit = AuditRepository(s)
        await audit.record("admin", "complaint.view", "VM-2026-000001", via="cli")
        await audit.record("admin", "complaint.list")
    async with db.transaction() as s:
        entries = await AuditRepository(s).recent()
        assert [e.action for e in entries] == ["complaint.list", "complaint.view"]
        assert entries[1].details == {"via": "cli"}


async def test_reader_sees_committed_rows_and_writes_nothing(db: Database) -> None:
    async with db.transaction() as s:
        await ConsumerRepository(s).add(Consumer(ivrs="N1000000001", latitude=23.2, longitude=79.9))
    async with db.reader() as s:
        repo = ConsumerRepository(s)
        assert (await repo.by_ivrs("n 100-000-0001")) is not None
        await repo.add(Consumer(ivrs="N1000000002"))
    async with db.reader() as s:
        assert await ConsumerRepository(s).count() == 1


async def test_an_unproven_web_chat_claim_never_captures_a_real_owner(db: Database) -> None:
    async with db.transaction() as s:
        repo = CitizenRepository(s)
        squatter = await repo.register_phone(await repo.identity_or_create("webchat", "w1", "en"), "+919876543210")
        owner_identity = await repo.identity_or_create("telegram", "42", "en")
        owner = await repo.register_phone(owner_identity, "+919876543210")
        assert owner.id != squatter.id
        assert owner.phone == "+919876543210"
        await s.refresh(squatter)
        assert squatter.phone is None
        assert [i.channel for i in await repo.identities_of(owner.id)] == ["telegram"]
