"""The whole reward path through the officer flow, with a 2-second appeal window and the fake RazorpayX.

confirm -> "reward scheduled" (amount, date) -> 2 s later "paid" (bank reference); an appeal holds,
then releases or cancels; a reward due before the citizen gave a bank account is asked for, then paid once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from bot.app import Runtime
from bot.rewards.notices import local_time
from bot.rewards.watch import RewardWatch
from storage.models import Complaint, Reward
from tests.conversation import Chat, MemoryAdapter
from tests.fakes.razorpayx import FakeRazorpayX
from tests.handlers.test_officer import add_officer, file_complaint
from tests.rewards.helpers import eventually
from tests.world import register, settle


async def reply_containing(runtime: Runtime, chat: Chat, fragment: str, within: float = 20.0) -> str:
    """Wait (with a deadline) until the chat received a message containing `fragment`; returns it."""

    async def arrived() -> bool:
        await settle(runtime)
        return any(fragment in r.text for r in chat.replies)

    await eventually(arrived, within=within, what=f"a message containing {fragment!r}")
    return next(r.text for r in chat.replies if fragment in r.text)


async def add_bank_account(chat: Chat, number: str = "123456789012") -> None:
    await chat.send("/bank")
    for answer in ("Ravi Kumar", number, number, "PUNB0123400"):
        await chat.send(answer)
    chat.expect("Saved. Rewards will be paid into")


async def confirm(inspector: Chat, assignment_payload: str | None = None, amount: str = "₹12,500") -> None:
    if assignment_payload:
        await inspector.press_payload(assignment_payload)
    else:
        await inspector.press("Irregularity confirmed")
    await inspector.send(amount)
    await inspector.send("PN/JBP/2026/117")


async def reward_of(runtime: Runtime, public_id: str) -> Reward:
    async with runtime.db.reader() as session:
        stmt = (
            select(Reward).join(Complaint, Complaint.id == Reward.complaint_id).where(Complaint.public_id == public_id)
        )
        return (await session.scalars(stmt)).one()


async def test_confirmed_irregularity_is_paid_after_the_appeal_window(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter, rzp: FakeRazorpayX, watch: RewardWatch
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    await add_bank_account(citizen)
    public_id = await file_complaint(citizen)
    await settle(runtime)
    inspector = new_chat("9001")
    await confirm(inspector)
    inspector.expect(f"Recorded: irregularity confirmed in {public_id}")

    scheduled = await reply_containing(runtime, citizen, f"Reward for {public_id}: Rs 1,250.00")
    reward = await reward_of(runtime, public_id)
    assert reward.amount_paise == 125_000 and reward.slab == "meter_tampering"
    assert f"paid into your bank account on {local_time('en', reward.due_at)}" in scheduled
    notice = await reply_containing(runtime, inspector, f"Reward for {public_id}: Rs 1,250.00, payable on")
    assert "Ravi" not in notice and "9012" not in notice  # the informant stays confidential

    paid = await reply_containing(runtime, citizen, "has been paid")
    texts = [r.text for r in citizen.replies]
    assert texts.index(scheduled) < texts.index(paid)
    reward = await reward_of(runtime, public_id)
    assert reward.state == "paid" and reward.paid_at is not None and reward.paid_at >= reward.due_at
    assert f"Rs 1,250.00 for {public_id} has been paid into your bank account XXXXXX9012" in paid
    assert f"Bank reference (UTR): {reward.bank_reference}." in paid and reward.bank_reference
    assert rzp.money_moved() == {f"vm-reward-{reward.id}-1": 1}
    assert sum("has been paid" in r.text for r in citizen.replies) == 1


async def test_an_appeal_holds_then_releases_or_cancels(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter, rzp: FakeRazorpayX, watch: RewardWatch
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    await add_officer(runtime, "Insp. Other", "9002", district="Sagar")
    first, second = new_chat("1001"), new_chat("1002")
    await register(first, phone="+919876543210")
    await register(second, phone="+919876543211")
    await add_bank_account(first)
    await add_bank_account(second, "555566667777")
    one = await file_complaint(first)
    two = await file_complaint(second, ivrs="N3330008566")
    await settle(runtime)
    inspector = new_chat("9001")
    await confirm(inspector, "as:confirmed:1")
    await confirm(inspector, "as:confirmed:2")
    await settle(runtime)  # the pushes these outcomes queued have arrived before the inspector acts again
    reward_one, reward_two = await reward_of(runtime, one), await reward_of(runtime, two)
    # However slow this machine, the window stays open until the appeals are recorded.
    await move_due(runtime, timedelta(minutes=1))

    outsider = new_chat("9002")
    await outsider.press_payload(f"rw:appeal:{reward_one.id}")
    outsider.expect("Only the inspector who confirmed the finding")

    await inspector.press_payload(f"rw:appeal:{reward_one.id}")
    inspector.expect(f"Recorded: the reward for {one} (Rs 1,250.00) is on hold")
    assert inspector.buttons() == ["✅ Appeal decided for the company: pay", "✖ Appeal upheld: cancel reward"]
    await inspector.press_payload(f"rw:appeal:{reward_two.id}")
    await reply_containing(runtime, first, f"The reward of Rs 1,250.00 for {one} is on hold")
    await reply_containing(runtime, second, "is on hold")

    # The window passes: a held reward is not paid, however often the watch sweeps.
    await move_due(runtime, timedelta(minutes=-2))
    await watch.sweep()
    assert (await reward_of(runtime, one)).state == "held" and rzp.payouts == {}

    await inspector.press_payload(f"rw:release:{reward_one.id}")
    inspector.expect(f"Recorded: the appeal on {one} was decided for the company")
    await reply_containing(runtime, first, "decided in favour of the finding")
    await reply_containing(runtime, first, "has been paid")

    await inspector.press_payload(f"rw:cancel:{reward_two.id}")
    inspector.expect(f"Recorded: the reward of Rs 1,250.00 for {two} is cancelled")
    await reply_containing(runtime, second, "was upheld, so the reward of Rs 1,250.00 is cancelled")
    await inspector.press_payload(f"rw:release:{reward_two.id}")
    inspector.expect(f"That no longer applies: the reward for {two} is cancelled")

    assert (await reward_of(runtime, two)).state == "cancelled"
    assert rzp.money_moved() == {f"vm-reward-{reward_one.id}-1": 1}
    assert not any("has been paid" in r.text for r in second.replies)


async def move_due(runtime: Runtime, by: timedelta) -> None:
    async with runtime.db.transaction() as session:
        for reward in await session.scalars(select(Reward)):
            reward.due_at += by


async def test_a_reward_due_without_a_bank_account_is_asked_for_then_paid_once(
    new_chat: Callable[..., Chat], runtime: Runtime, adapter: MemoryAdapter, rzp: FakeRazorpayX, watch: RewardWatch
) -> None:
    await add_officer(runtime, "Insp. Verma", "9001")
    citizen = new_chat("1001")
    await register(citizen)
    public_id = await file_complaint(citizen)
    await settle(runtime)
    await confirm(new_chat("9001"))
    await reply_containing(runtime, citizen, "Add your bank account now with /bank")
    await reply_containing(runtime, citizen, "we do not have your bank account yet")
    assert (await reward_of(runtime, public_id)).state == "awaiting_bank"

    await add_bank_account(citizen, "444455556666")
    await reply_containing(runtime, citizen, f"Your reward of Rs 1,250.00 for {public_id} will now be paid into this")
    paid = await reply_containing(runtime, citizen, "has been paid")
    assert "XXXXXX6666" in paid
    reward = await reward_of(runtime, public_id)
    assert reward.state == "paid"
    assert rzp.money_moved() == {f"vm-reward-{reward.id}-1": 1}
