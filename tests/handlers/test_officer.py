"""Officer transcripts: routing, the assignment message, outcomes, pushes, reassignment and confidentiality."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.app import Runtime
from storage.models import Assignment, Complaint, StatusChange
from storage.repositories import OfficerRepository
from tests.conversation import Chat, MemoryAdapter, jpeg_bytes
from tests.world import register, settle

CITIZEN_PHONE = "+919876543210"


async def add_officer(
    runtime: Runtime, name: str, user_id: str, role: str = "inspector", district: str = "Jabalpur"
) -> int:
    async with runtime.db.transaction() as session:
        officer = await OfficerRepository(session).add(
            name=name, district=district, role=role, channel="telegram", external_id=user_id
        )
        return officer.id


async def file_complaint(citizen: Chat, ivrs: str = "N3330008565", note: str = "Hook on the pole") -> str:
    await citizen.send("/report")
    await citizen.press("Meter tampering")
    await citizen.press("Yes, I know the IVRS")
    await citizen.send(ivrs)
    await citizen.press("Yes, this one")
    await citizen.send_photo(jpeg_bytes(color=(10, 120, 200)))
    await citizen.send_photo(jpeg_bytes(color=(200, 120, 10)))
    await citizen.press("Done")
    await citizen.send(note)
    await citizen.press("Submit")
    filed = citizen.expect("Complaint id: ")
    return filed.text.split("Complaint id: ")[1].split()[0]


async def test_a_complaint_travels_from_citizen_to_inspector_and_back(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    officer_id = await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen, phone=CITIZEN_PHONE)
    public_id = await file_complaint(citizen)
    await settle(runtime)

    inspector = new_chat("9001")
    assignment = inspector.expect(f"New assignment {public_id}")
    assert "Irregularity: Meter tampering" in assignment.text
    assert "IVRS N3330008565" in assignment.text and "Wright Town" in assignment.text
    assert "Note from the informant: Hook on the pole" in assignment.text
    assert "Photos: 2" in assignment.text
    photos = [r for r in inspector.replies if r.photos]
    pins = [r for r in inspector.replies if r.pin]
    assert len(photos) == 2 and all(runtime.photo_store.path_of(r.photos[0]).exists() for r in photos)
    assert pins and abs(pins[0].pin.latitude - 23.1685) < 1e-6
    assert inspector.buttons() == [
        "✅ Accept",
        "🔍 Start inspection",
        "⚠️ Irregularity confirmed",
        "✖ Not found",
        "🚫 False report",
    ]
    citizen.expect(f"Update on {public_id}: your complaint has been assigned")

    await inspector.press("Accept")
    inspector.expect(f"Accepted {public_id}")
    await inspector.press("Start inspection")
    inspector.expect(f"Inspection of {public_id} started")
    await inspector.press("Irregularity confirmed")
    inspector.expect("Type the assessed amount")
    await inspector.send("about twelve thousand")
    inspector.expect("as a number")
    await inspector.send("₹12,500")
    inspector.expect("case / panchnama reference")
    await inspector.send("PN/JBP/2026/117")
    inspector.expect(
        f"Recorded: irregularity confirmed in {public_id} (assessed Rs 12,500.00, reference PN/JBP/2026/117)"
    )
    await settle(runtime)

    citizen.expect("a vigilance officer has accepted your complaint")
    citizen.expect("the site inspection has started")
    citizen.expect("complete. The irregularity was confirmed")
    await citizen.send("/status")
    assert f"{public_id} · Meter tampering · Complete: irregularity confirmed" in citizen.expect("Your complaints").text

    async with runtime.db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert complaint.assessed_amount_paise == 1_250_000 and complaint.case_reference == "PN/JBP/2026/117"
        history = (await session.scalars(select(StatusChange).order_by(StatusChange.id))).all()
        assert [(h.to_status, h.actor_kind, h.actor_id) for h in history] == [
            ("pending", "citizen", None),
            ("assigned", "system", None),
            ("accepted", "officer", officer_id),
            ("inspecting", "officer", officer_id),
            ("complete", "officer", officer_id),
        ]
        assert history[-1].outcome == "confirmed"

    # Confidentiality: nothing the inspector ever received names the complainant.
    everything = "\n".join(r.text + " ".join(c.label + c.payload for c in r.flat_choices) for r in inspector.replies)
    for secret in (CITIZEN_PHONE, CITIZEN_PHONE[3:], "1001", "Ravi"):
        assert secret not in everything, secret


async def test_an_old_button_after_the_outcome_changes_nothing(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    await file_complaint(citizen)
    await settle(runtime)
    inspector = new_chat("9001")
    await inspector.press("Not found")
    inspector.expect("Recorded: no irregularity found")
    async with runtime.db.reader() as session:
        assignment_id = (await session.scalars(select(Assignment.id))).one()
    await inspector.press_payload(f"as:false_report:{assignment_id}")
    inspector.expect("no longer applies")
    await settle(runtime)
    citizen.expect("found no irregularity")
    assert not any("found to be false" in r.text for r in citizen.replies)


async def test_no_inspector_alerts_the_supervisor_who_assigns(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Supt. Rao", "9100", role="supervisor")
    citizen = new_chat("1001")
    await register(citizen)
    public_id = await file_complaint(citizen)
    await settle(runtime)
    supervisor = new_chat("9100")
    supervisor.expect(f"Complaint {public_id} in Jabalpur has no active inspector")
    await supervisor.press("Assign")
    supervisor.expect("no active inspector in Jabalpur")
    await add_officer(runtime, "Insp. Khan", "9002")
    await supervisor.press_payload(supervisor.replies[0].flat_choices[0].payload)
    supervisor.expect(f"Assign {public_id} to which inspector?")
    await supervisor.press("Insp. Khan")
    supervisor.expect(f"{public_id} is now assigned to Insp. Khan")
    await settle(runtime)
    new_chat("9002").expect(f"New assignment {public_id}")
    citizen.expect("assigned to the vigilance team")


async def test_a_supervisor_reassigns_and_the_old_buttons_stop_working(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    public_id = await file_complaint(citizen)
    await add_officer(runtime, "Supt. Rao", "9100", role="supervisor")
    await add_officer(runtime, "Insp. Khan", "9002")
    await settle(runtime)
    async with runtime.db.reader() as session:
        complaint_id = (await session.scalars(select(Complaint.id))).one()
    supervisor = new_chat("9100")
    await supervisor.press_payload(f"sup:pick:{complaint_id}")
    await supervisor.press("Insp. Khan")
    supervisor.expect("now assigned to Insp. Khan")
    await settle(runtime)
    new_chat("9002").expect(f"New assignment {public_id}")
    first = new_chat("9001")
    await first.press("Accept")
    first.expect("no longer applies")
    # An inspector cannot reassign.
    await first.press_payload(f"sup:pick:{complaint_id}")
    first.expect("Only a supervisor")


async def test_officers_get_their_own_menu_and_guide(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    inspector = new_chat("9001")
    await inspector.send("/start")
    inspector.expect("Vigilance officer menu: Insp. Verma, Jabalpur. Open assignments: 0.")
    await inspector.press("My assignments")
    inspector.expect("no open assignments")
    await inspector.send("/help")
    inspector.expect("Officer guide")
    await inspector.send("/stats")
    inspector.expect("V-Mitra public audit")


async def test_stats_are_public_and_carry_no_personal_data(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen, phone=CITIZEN_PHONE)
    await file_complaint(citizen)
    await file_complaint(citizen, ivrs="N3330008566")
    await settle(runtime)
    inspector = new_chat("9001")
    await inspector.press("Irregularity confirmed")
    await inspector.send("5000")
    await inspector.send("PN/1")
    stranger = new_chat("5555")
    await stranger.send("/stats")
    stats = stranger.expect("V-Mitra public audit")
    assert "Complaints: 2" in stats.text
    assert "• In process: 1" in stats.text and "• Complete: 1" in stats.text
    assert "Irregularities confirmed: 1" in stats.text
    assert "• Jabalpur: 2 (1 confirmed)" in stats.text
    assert CITIZEN_PHONE not in stats.text and "N33300085" not in stats.text
