"""The README's run command: with no tokens it serves the web chat at once; with a token, both channels."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.bot_api import FakeBotApi
from tests.fakes.updates import text_update, user_json

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 15.0
SECRETS = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Bot:
    process: subprocess.Popen[bytes]
    address: str
    out_path: Path
    err_path: Path

    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def stop(self) -> int:
        """SIGTERM, as a service manager would stop it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode

    def bootstrap(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with opener.open(self.address + "/api/bootstrap", timeout=5) as response:
            return dict(json.load(response))


@contextmanager
def run_bot(tmp_path: Path, extra_env: dict[str, str] | None = None, **config_changes: Any) -> Iterator[Bot]:
    """`python run_bot.py` on a fresh data dir and a free port; stopped with SIGTERM, which must exit cleanly."""
    port = _free_port()
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["http"]["port"] = port
    for section, values in config_changes.items():
        config[section].update(values)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in SECRETS}
    env.update(VMITRA_DATA_DIR=str(data_dir), DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'vmitra.db'}")
    env.update(extra_env or {})
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "run_bot.py"), "--config", str(config_path)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
        )
        bot = Bot(process, f"http://127.0.0.1:{port}", out_path, err_path)
        try:
            yield bot
        finally:
            code = bot.stop()
    assert code == 0, bot.output()
    assert "Traceback" not in bot.output(), bot.output()


def wait_until_served(bot: Bot, started: float) -> float:
    """Seconds until the page answered (fails after the budget or if the bot exits)."""
    while not _answers(bot.address + "/"):
        assert bot.process.poll() is None, f"the bot exited with {bot.process.returncode}:\n{bot.output()}"
        assert time.monotonic() - started < BUDGET_S, f"no answer on {bot.address} in {BUDGET_S} s:\n{bot.output()}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_run_command_serves_the_web_chat_on_a_fresh_data_dir(tmp_path: Path) -> None:
    started = time.monotonic()
    with run_bot(tmp_path) as bot:
        elapsed = wait_until_served(bot, started)
        print(f"the web chat answered after {elapsed:.1f} s")
        while bot.address not in bot.out_path.read_text():
            assert time.monotonic() - started < BUDGET_S + 2, "the address was never printed"
            time.sleep(0.1)
        bootstrap = bot.bootstrap()
        assert bootstrap["csrf"]
        # The empty register was filled with the demo register first, and the page says so.
        assert bootstrap["demo"]["active"] is True and bootstrap["demo"]["consumers"] > 0
        assert "demo consumers" in bot.out_path.read_text()
    assert (tmp_path / "data" / "vmitra.db").exists()


async def test_with_a_token_telegram_and_the_web_chat_run_side_by_side(tmp_path: Path) -> None:
    async with FakeBotApi() as api:
        started = time.monotonic()
        telegram = {"base_url": api.base_url, "base_file_url": api.base_file_url, "poll_timeout_s": 1}
        with run_bot(tmp_path, {"TELEGRAM_BOT_TOKEN": api.token}, telegram=telegram) as bot:
            served = await asyncio.to_thread(wait_until_served, bot, started)
            assert served < BUDGET_S
            api.push_update(text_update(user_json(4242), "/start"))
            [welcome] = await api.wait_for_messages(4242, timeout=10)
            assert "language" in welcome.text.lower()
            bootstrap = await asyncio.to_thread(bot.bootstrap)
            assert bootstrap["demo"] == {"active": False}  # a real deployment never gets generated consumers
            await asyncio.to_thread(bot.stop)  # in a thread: the fake Bot API must keep answering meanwhile
        assert "demo consumers" not in bot.output()
