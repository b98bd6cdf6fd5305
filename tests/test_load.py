"""Load (issue 8): a thousand Telegram users file their reports at the same time, through the real stack.

The fake Bot API runs in its own process, the bot in this one (the runtime as `run_bot.py` builds it,
on a fresh SQLite file, with its notifier and timers), and the thousand users in a third process,
each walking the whole dialog (registration, then a report by IVRS with a photo) as fast as the bot
answers. This is bench/dialog.py's closed loop, run here for its checks rather than its timings.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
USERS = 1000


def bench_dialog() -> ModuleType:
    """bench/dialog.py as a module (it sets up its own imports of the other bench modules)."""
    spec = importlib.util.spec_from_file_location("bench_dialog", ROOT / "bench" / "dialog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_a_thousand_users_file_their_reports_at_once_and_each_complaint_is_stored_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    result = await bench_dialog().run_dialog(USERS, think_s=0.0)
    assert result["checks"] == {
        "every user got a complaint id": True,
        "the complaint ids are distinct": True,
        "complaints in the database == users": True,
        "the fake saw every update": True,
    }
    assert result["filed"] == USERS
    assert result["api_errors"] == 0  # no Bot API call of the bot's was refused
    assert result["updates"] >= USERS * 13  # thirteen updates each, all answered
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # and nothing failed
