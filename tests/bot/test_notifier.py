"""The notifier drains the outbox in order per chat, paced, deferring on 429 and surviving a restart."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from bot.events import Choice, MapPin, Reply
from bot.notifier import ChannelRate, DeliveryDeferred, DeliveryFailed, Notifier, enqueue, split_for_outbox
from storage.db import Database
from storage.repositories import OutboxRepository


@dataclass
class RecordingChannel:
    """Records pushes; can refuse the first push to chosen chats with a 429-like deferral."""

    name: str = "telegram"
    received: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    times: list[float] = field(default_factory=list)
    defer_once: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)

    async def push(self, external_id: str, reply: Reply, kind: str) -> None:
        if external_id in self.blocked:
            raise DeliveryFailed("blocked")
        if external_id in self.defer_once:
            self.defer_once.discard(external_id)
            raise DeliveryDeferred(0.2)
        self.times.append(time.monotonic())
        self.received[external_id].append(reply.text or ("photo" if reply.photos else "pin"))


async def fill(db: Database, chats: int, per_chat: int) -> None:
    async with db.transaction() as session:
        for n in range(per_chat):
            for chat in range(chats):
                await enqueue(session, "telegram", str(chat), Reply(text=f"m{n}"), "status_update")


async def drain(notifier: Notifier, db: Database, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        async with db.reader() as session:
            counts = await OutboxRepository(session).counts()
        if not counts.get("pending") and not counts.get("sending"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not drained: {counts}")


def test_a_reply_is_split_into_single_messages() -> None:
    reply = Reply(
        text="Assignment", choices=[[Choice("a", "Accept")]], pin=MapPin(23.1, 79.9), photos=["aa/1.jpg", "bb/2.jpg"]
    )
    parts = split_for_outbox(reply)
    assert [(p.photos, p.pin is not None, p.text) for p in parts] == [
        (["aa/1.jpg"], False, ""),
        (["bb/2.jpg"], False, ""),
        ([], True, ""),
        ([], False, "Assignment"),
    ]
    assert parts[-1].choices == reply.choices
    assert Reply.from_dict(parts[-1].to_dict()) == parts[-1]


async def test_every_message_arrives_once_in_order_per_chat(db: Database) -> None:
    await fill(db, chats=5, per_chat=4)
    channel = RecordingChannel(defer_once={"2"})
    notifier = Notifier(db, {"telegram": channel}, {"telegram": ChannelRate(200, 0.01)}, poll_interval_s=0.05)
    await notifier.start()
    await drain(notifier, db)
    await notifier.stop()
    assert dict(channel.received) == {str(c): ["m0", "m1", "m2", "m3"] for c in range(5)}


async def test_the_global_rate_is_kept(db: Database) -> None:
    await fill(db, chats=30, per_chat=1)
    channel = RecordingChannel()
    notifier = Notifier(db, {"telegram": channel}, {"telegram": ChannelRate(20, 0.0)}, poll_interval_s=0.05)
    await notifier.start()
    await drain(notifier, db)
    await notifier.stop()
    times = channel.times
    assert len(times) == 30
    busiest_second = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest_second == 20  # as many as the limit allows in one second, and no more
    assert times[-1] - times[0] >= 1.0  # so the last ten waited for the first second to pass


async def test_a_blocked_user_fails_without_holding_up_others(db: Database) -> None:
    await fill(db, chats=3, per_chat=2)
    channel = RecordingChannel(blocked={"1"})
    notifier = Notifier(db, {"telegram": channel}, {"telegram": ChannelRate(100, 0.0)}, poll_interval_s=0.05)
    await notifier.start()
    await drain(notifier, db)
    await notifier.stop()
    assert set(channel.received) == {"0", "2"}
    async with db.reader() as session:
        assert (await OutboxRepository(session).counts()) == {"sent": 4, "failed": 2}


async def test_a_restart_in_the_middle_loses_nothing_and_repeats_nothing(db: Database) -> None:
    await fill(db, chats=10, per_chat=5)
    channel = RecordingChannel()
    rates = {"telegram": ChannelRate(20, 0.0)}  # 20 in the first second, then the stop
    first = Notifier(db, {"telegram": channel}, rates, poll_interval_s=0.05)
    await first.start()
    await asyncio.sleep(0.4)
    await first.stop()
    delivered_before = sum(len(v) for v in channel.received.values())
    assert 0 < delivered_before < 50
    second = Notifier(db, {"telegram": channel}, rates, poll_interval_s=0.05)
    await second.start()
    await drain(second, db)
    await second.stop()
    assert dict(channel.received) == {str(c): [f"m{n}" for n in range(5)] for c in range(10)}
