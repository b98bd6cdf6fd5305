"""kill -9 in the middle of a dialog: after a restart the dialog resumes, nothing is lost, nothing happens twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Complaint, Consumer, ProcessedUpdate
from storage.repositories import ConsumerRepository
from tests.conversation import jpeg_bytes
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_run_command import ROOT, SECRETS, _free_port


def start_bot(tmp_path: Path, api: FakeBotApi, log_name: str) -> subprocess.Popen[bytes]:
    """`python run_bot.py` with a token, long-polling the fake; its data dir survives restarts."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["http"]["port"] = _free_port()
    config["webchat"]["enabled"] = False
    config["telegram"].update(base_url=api.base_url, base_file_url=api.base_file_url, poll_timeout_s=1)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in SECRETS}
    env.update(
        TELEGRAM_BOT_TOKEN=api.token,
        VMITRA_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'vmitra.db'}",
    )
    log = (tmp_path / log_name).open("w")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_bot.py"), "--config", str(config_path)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def seed_register(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'vmitra.db'}")
    await db.upgrade()
    async with db.transaction() as session:
        await ConsumerRepository(session).add(
            Consumer(
                ivrs="N3330008565",
                address="H.No 12, Wright Town",
                district="Jabalpur",
                latitude=23.1685,
                longitude=79.9338,
            )
        )
    return db


async def test_kill_9_half_way_through_a_report(tmp_path: Path) -> None:
    db = await seed_register(tmp_path)
    async with FakeBotApi() as api:
        first = start_bot(tmp_path, api, "first.log")
        try:
            ravi = TelegramUser(api, 5151)
            await ravi.send("/start")
            await ravi.press("English", timeout=30)  # the first process needs a moment to start
            await ravi.press("I agree")
            await ravi.share_contact("+919876543210")
            await ravi.expect("you are registered")
            await ravi.send("/report")
            await ravi.press("Meter tampering")
            await ravi.press("Yes, I know the IVRS")
            await ravi.send("N3330008565")
            await ravi.press("Yes, this one")
            await ravi.send_photo(jpeg_bytes())
            await ravi.expect("Photo 1 of 5 received")
        finally:
            first.kill()  # SIGKILL: no clean shutdown, no chance to confirm the last updates
            await asyncio.to_thread(first.wait)
        second = start_bot(tmp_path, api, "second.log")
        try:
            await ravi.press("Done", timeout=30)
            await ravi.expect("Add a short note", timeout=30)
            await ravi.press("Skip")
            summary = await ravi.expect("Please check your complaint")
            assert "Photos: 1" in summary.text
            await ravi.press("Submit")
            await ravi.expect("Complaint id: VM-")
        finally:
            second.terminate()
            assert await asyncio.to_thread(second.wait, 30) == 0, (tmp_path / "second.log").read_text()
    received = [text for who, text in ravi.transcript if who == "bot"]
    assert sum("Photo 1 of 5 received" in text for text in received) == 1  # a redelivered update did nothing
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Complaint)) == 1
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) >= 10
    await db.dispose()
    for log in ("first.log", "second.log"):
        text = (tmp_path / log).read_text()
        assert "9876543210" not in text and "5151" not in text, f"personal data in {log}"
