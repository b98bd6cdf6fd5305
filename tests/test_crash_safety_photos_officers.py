"""kill -9 during a photo download and around an officer's outcome: after a restart nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from storage.db import Database
from storage.models import (
    Assignment,
    Complaint,
    ComplaintPhoto,
    DialogState,
    OutboxMessage,
    ProcessedUpdate,
    Reward,
    StatusChange,
)
from storage.photo_store import PhotoStore
from storage.repositories import OfficerRepository
from tests.channels.telegram_fixtures import tg_report_by_ivrs
from tests.conversation import jpeg_bytes
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_crash_safety import seed_register, start_bot

TIMEOUT = 30.0  # the machine may be loaded: every wait is generous, and none is a bare sleep
CITIZEN, INSPECTOR = 5151, 9001
REFERENCE = "PN/JBP/2026/117"
PUSH_CONFIRMED = "complete. The irregularity was confirmed"
REPLY_CONFIRMED = "Recorded: irregularity confirmed"

def kill_9(bot: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no clean shutdown, no chance to confirm updates or settle anything."""
    if bot.poll() is None:
        os.kill(bot.pid, signal.SIGKILL)
    bot.wait(TIMEOUT)


async def release_after_the_kill(api: FakeBotApi) -> None:
    """Lift the holds once the dead process's stalled requests are gone (they never reached Telegram)."""
    await until(lambda: not api.held, "the fake notices that the killed process hung up")
    api.release()


async def stop(bot: subprocess.Popen[bytes], log: Path) -> None:
    """A clean stop (SIGTERM) that must exit 0."""
    bot.terminate()
    assert await asyncio.to_thread(bot.wait, TIMEOUT) == 0, await asyncio.to_thread(log.read_text)


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll a condition (plain or async) until it holds; fails after TIMEOUT naming ``what``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        holds = condition()
        if await holds if inspect.isawaitable(holds) else holds:
            return
        assert time.monotonic() < deadline, f"not within {TIMEOUT}s: {what}"
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def write_lock(db_file: Path) -> Iterator[None]:
    """Hold SQLite's write lock from outside the bot: its transactions wait and cannot commit meanwhile."""
    connection = sqlite3.connect(db_file, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def assert_not_lost(api: FakeBotApi, database: Path, update_id: int) -> None:
    """The update the killed process never finished is still unconfirmed at Telegram or kept in the bot's inbox."""
    pending = [update["update_id"] for update in api.pending_updates]
    connection = sqlite3.connect(database)
    try:
        kept = [row[0] for row in connection.execute("SELECT update_id FROM inbox_updates WHERE channel = 'telegram'")]
    finally:
        connection.close()
    assert update_id in pending or update_id in kept, f"update {update_id} was confirmed to Telegram, not kept: lost"


def bot_texts(user: TelegramUser) -> list[str]:
    """Everything the bot showed the user, in order."""
    return [text for who, text in user.transcript if who == "bot"]


async def count(db: Database, model: Any, *where: Any) -> int:
    """Rows of a model matching the conditions."""
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def outbox_settled(db: Database) -> bool:
    """No pushed message is waiting or on its way."""
    return await count(db, OutboxMessage, OutboxMessage.state.in_(("pending", "sending"))) == 0


async def register_and_start_report(ravi: TelegramUser) -> None:
    """Ravi registers and reaches the photo step of a report about N3330008565."""
    await ravi.send("/start")
    await ravi.press("English", timeout=TIMEOUT)  # the first process needs a moment to start
    await ravi.press("I agree")
    await ravi.share_contact("+919876543210")
    await ravi.expect("you are registered")
    await tg_report_by_ivrs(ravi)


async def seed_inspector(db: Database) -> int:
    """Insp. Verma, the Jabalpur inspector on Telegram, in the bot's database before it starts."""
    async with db.transaction() as session:
        officer = await OfficerRepository(session).add(
            name="Insp. Verma", district="Jabalpur", role="inspector", channel="telegram", external_id=str(INSPECTOR)
        )
        return officer.id


async def up_to_the_reference(api: FakeBotApi) -> tuple[TelegramUser, TelegramUser, str]:
    """Ravi files a report, Insp. Verma gets it, confirms it and gives the amount; the bot asks for the reference."""
    ravi, verma = TelegramUser(api, CITIZEN), TelegramUser(api, INSPECTOR, "Verma")
    await verma.join()
    await register_and_start_report(ravi)
    await ravi.send_photo(jpeg_bytes())
    await ravi.expect("Photo 1 of 5 received")
    await ravi.press("Done")
    await ravi.press("Skip")
    await ravi.press("Submit")
    public_id = (await ravi.expect("Complaint id: VM-")).text.split("Complaint id: ")[1].split()[0]
    await verma.expect(f"New assignment {public_id}", timeout=TIMEOUT)
    await ravi.expect("your complaint has been assigned", timeout=TIMEOUT)
    await verma.press("Irregularity confirmed")
    await verma.expect("Type the assessed amount")
    await verma.send("₹12,500")
    await verma.expect("case / panchnama reference")
    return ravi, verma, public_id


async def assert_outcome_recorded_once(db: Database, officer_id: int, public_id: str) -> None:
    """One 'complete' change by the inspector with its time, a done assignment, one reward, one push about it."""
    async with db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        assert (complaint.public_id, complaint.status, complaint.outcome) == (public_id, "complete", "confirmed")
        assert (complaint.assessed_amount_paise, complaint.case_reference) == (1_250_000, REFERENCE)
        [outcome] = (await session.scalars(select(StatusChange).where(StatusChange.to_status == "complete"))).all()
        assert (outcome.outcome, outcome.actor_kind, outcome.actor_id) == ("confirmed", "officer", officer_id)
        assert outcome.created_at is not None
        assert [a.state for a in (await session.scalars(select(Assignment))).all()] == ["done"]
        [reward] = (await session.scalars(select(Reward))).all()
        assert (reward.complaint_id, reward.citizen_id) == (complaint.id, complaint.citizen_id)
        pushes = (await session.scalars(select(OutboxMessage).where(OutboxMessage.external_id == str(CITIZEN)))).all()
    assert sum(PUSH_CONFIRMED in str(push.payload) for push in pushes) == 1


async def test_kill_9_while_a_photo_downloads(tmp_path: Path) -> None:
    db = await seed_register(tmp_path)
    photo = jpeg_bytes(color=(30, 160, 90))
    async with FakeBotApi() as api:
        ravi = TelegramUser(api, CITIZEN)
        first = start_bot(tmp_path, api, "first.log")
        try:
            await register_and_start_report(ravi)
            api.hold("download")  # the photo's bytes do not come: the bot waits for them
            photo_update = await ravi.send_photo(photo)
            [download] = await api.wait_held(timeout=TIMEOUT)
            assert download.method == "download"
        finally:
            kill_9(first)  # while the bot waits for the photo
        await release_after_the_kill(api)
        assert await count(db, ProcessedUpdate, ProcessedUpdate.update_id == str(photo_update)) == 0
        assert_not_lost(api, tmp_path / "data" / "vmitra.db", photo_update)
        second = start_bot(tmp_path, api, "second.log")
        try:
            await ravi.expect("Photo 1 of 5 received", timeout=TIMEOUT)  # the photo, from the inbox
            await ravi.press("Done")
            await ravi.expect("Add a short note")
            await ravi.press("Skip")
            summary = await ravi.expect("Please check your complaint")
            assert "Photos: 1" in summary.text
            await ravi.press("Submit")
            await ravi.expect("Complaint id: VM-")
        finally:
            await stop(second, tmp_path / "second.log")
    assert sum("Photo 1 of 5 received" in text for text in bot_texts(ravi)) == 1
    expected = PhotoStore(tmp_path / "scratch", max_bytes=10**8, max_pixels=10**9).ingest(photo).content_hash
    photo_dir = tmp_path / "data" / "photos"
    async with db.reader() as session:
        complaint = (await session.scalars(select(Complaint))).one()
        [stored] = (await session.scalars(select(ComplaintPhoto))).all()
        assert (stored.complaint_id, stored.content_hash) == (complaint.id, expected)
        assert hashlib.sha256((photo_dir / stored.path).read_bytes()).hexdigest() == expected
        state = await session.get(DialogState, f"telegram:{CITIZEN}")
        assert state is not None and state.step == "menu" and set(state.data) <= {"_choices"}  # no draft left
    assert [p.name for p in photo_dir.rglob("*") if p.is_file()] == [f"{expected}.jpg"]  # and no temp file
    await db.dispose()


async def test_kill_9_before_an_outcome_commits(tmp_path: Path) -> None:
    db = await seed_register(tmp_path)
    officer_id = await seed_inspector(db)
    async with FakeBotApi() as api:
        first = start_bot(tmp_path, api, "first.log")
        try:
            ravi, verma, public_id = await up_to_the_reference(api)
            with write_lock(tmp_path / "data" / "vmitra.db"):  # the bot's transaction waits for the lock
                reference = await verma.send(REFERENCE)
                await until(lambda: api.deliveries[reference] > 0, "the bot fetches the reference")
                kill_9(first)  # before the outcome could commit
        finally:
            kill_9(first)
        assert await count(db, StatusChange, StatusChange.to_status == "complete") == 0
        assert_not_lost(api, tmp_path / "data" / "vmitra.db", reference)
        second = start_bot(tmp_path, api, "second.log")
        try:
            await verma.expect(f"{REPLY_CONFIRMED} in {public_id}", timeout=TIMEOUT)  # the update, delivered again
            await ravi.expect(PUSH_CONFIRMED, timeout=TIMEOUT)
            await ravi.expect("Reward for", timeout=TIMEOUT)
            await until(lambda: outbox_settled(db), "every push is delivered")
        finally:
            await stop(second, tmp_path / "second.log")
    await assert_outcome_recorded_once(db, officer_id, public_id)
    assert sum(REPLY_CONFIRMED in text for text in bot_texts(verma)) == 1
    assert sum(PUSH_CONFIRMED in text for text in bot_texts(ravi)) == 1
    await db.dispose()


async def test_kill_9_after_an_outcome_commits_before_the_reply(tmp_path: Path) -> None:
    db = await seed_register(tmp_path)
    officer_id = await seed_inspector(db)
    async with FakeBotApi() as api:
        first = start_bot(tmp_path, api, "first.log")
        try:
            ravi, verma, public_id = await up_to_the_reference(api)
            api.hold("sendMessage", chat_id=INSPECTOR, text=REPLY_CONFIRMED)  # the bot's answer does not get out
            reference = await verma.send(REFERENCE)
            await api.wait_held(timeout=TIMEOUT)  # the outcome has committed: the bot is answering
            await ravi.expect(PUSH_CONFIRMED, timeout=TIMEOUT)
            await ravi.expect("Reward for", timeout=TIMEOUT)
            await verma.expect("Reward for", timeout=TIMEOUT)  # the appeal notice
            await until(lambda: outbox_settled(db), "every push is delivered")
        finally:
            kill_9(first)  # after the commit, before the answer
        await release_after_the_kill(api)
        api.redeliver(reference)  # Telegram never saw it confirmed, as far as the bot can tell
        second = start_bot(tmp_path, api, "second.log")
        try:
            await verma.send("/start")
            await verma.expect("Open assignments: 0", timeout=TIMEOUT)  # the outcome stands
            await ravi.send("/status")
            await ravi.expect("Complete: irregularity confirmed")
            assert await outbox_settled(db)
        finally:
            await stop(second, tmp_path / "second.log")
    assert api.deliveries[reference] >= 2  # the second process saw the update again, and ignored it
    assert "duplicate update" in await asyncio.to_thread((tmp_path / "second.log").read_text)
    await assert_outcome_recorded_once(db, officer_id, public_id)
    assert await count(db, ProcessedUpdate, ProcessedUpdate.update_id == str(reference)) == 1
    assert not any(REPLY_CONFIRMED in text or "no longer applies" in text for text in bot_texts(verma))
    assert sum(PUSH_CONFIRMED in text for text in bot_texts(ravi)) == 1
    await db.dispose()


async def test_kill_9_while_the_outcome_push_is_on_its_way(tmp_path: Path) -> None:
    db = await seed_register(tmp_path)
    officer_id = await seed_inspector(db)
    async with FakeBotApi() as api:
        first = start_bot(tmp_path, api, "first.log")
        try:
            ravi, verma, public_id = await up_to_the_reference(api)
            api.hold("sendMessage", chat_id=CITIZEN, text=PUSH_CONFIRMED)  # the push to Ravi does not get out
            await verma.send(REFERENCE)
            await verma.expect(f"{REPLY_CONFIRMED} in {public_id}", timeout=TIMEOUT)
            await api.wait_held(timeout=TIMEOUT)  # the notifier has claimed the push and is sending it
        finally:
            kill_9(first)  # the push never reached Telegram
        await release_after_the_kill(api)
        second = start_bot(tmp_path, api, "second.log")
        try:
            await ravi.expect(PUSH_CONFIRMED, timeout=TIMEOUT)  # README: may come twice, never lost
            await ravi.expect("Reward for", timeout=TIMEOUT)
            await until(lambda: outbox_settled(db), "every push is delivered")
        finally:
            await stop(second, tmp_path / "second.log")
    await assert_outcome_recorded_once(db, officer_id, public_id)
    assert sum(PUSH_CONFIRMED in text for text in bot_texts(ravi)) == 1  # the held request never reached Telegram
    await db.dispose()
