"""Admin CLI: the officer registry and the audited complaint views, run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import Database
from storage.repositories import AuditRepository, CitizenRepository, ComplaintRepository
from storage.repositories.complaints import NewPhoto

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", VMITRA_DATA_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "run_bot.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_officers_add_list_and_deactivate(tmp_path: Path) -> None:
    added = run_cli(tmp_path, "officers", "add", "--name", "Insp. Verma", "--district", "jabalpur",
                    "--role", "inspector", "--telegram-id", "9001")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Added officer 1: Insp. Verma, inspector, Jabalpur (telegram)." in added.stdout
    wa = run_cli(tmp_path, "officers", "add", "--name", "Supt. Rao", "--district", "Sagar", "--zone", "Sagar",
                 "--role", "supervisor", "--whatsapp", "98765 43210")  # fmt: skip
    assert wa.returncode == 0, wa.stderr
    listed = json.loads(run_cli(tmp_path, "officers", "list", "--json").stdout)
    assert [(o["name"], o["channel"], o["active"]) for o in listed] == [
        ("Insp. Verma", "telegram", True),
        ("Supt. Rao", "whatsapp", True),
    ]
    assert run_cli(tmp_path, "officers", "deactivate", "1").returncode == 0
    table = run_cli(tmp_path, "officers", "list").stdout
    assert "Insp. Verma" in table and " no " in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--district", "Delhi", "--telegram-id", "1"], "Unknown district 'Delhi'"),
        (["--district", "Rewa", "--telegram-id", "@verma"], "numeric Telegram user id"),
        (["--district", "Rewa", "--whatsapp", "12345"], "not a valid Indian mobile number"),
    ],
)
def test_bad_officer_details_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(tmp_path, "officers", "add", "--name", "X", "--role", "inspector", *args)
    assert result.returncode == 2
    assert message in result.stdout


async def test_complaint_views_are_audit_logged(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    await db.upgrade()
    async with db.transaction() as session:
        identity = await CitizenRepository(session).identity_or_create("telegram", "777", "en")
        await CitizenRepository(session).register_phone(identity, "+919812345678")
        photo = NewPhoto(content_hash="c" * 64, path="cc/x.jpg", width=100, height=100, size_bytes=10)
        complaint = await ComplaintRepository(session).create(
            citizen_id=identity.citizen_id, category="theft", channel="telegram", photos=[photo], district="Rewa"
        )
    listing = run_cli(tmp_path, "complaints", "list", "--status", "pending", "--json")
    assert [c["id"] for c in json.loads(listing.stdout)] == [complaint.public_id]
    shown = json.loads(run_cli(tmp_path, "complaints", "show", str(complaint.public_id), "--json").stdout)
    assert shown["informant"]["phone"] == "+919812345678"  # the administrator sees everything...
    assert shown["informant"]["channels"] == ["telegram:777"]
    async with db.reader() as session:
        actions = [(e.action, e.subject) for e in await AuditRepository(session).recent()]
    assert actions == [("complaint.show", complaint.public_id), ("complaints.list", None)]  # ...and it is recorded
    assert run_cli(tmp_path, "complaints", "show", "VM-2026-999999").returncode == 2
    await db.dispose()


async def test_citizens_are_blocked_and_unblocked_from_the_cli(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    await db.upgrade()
    async with db.transaction() as session:
        repo = CitizenRepository(session)
        await repo.register_phone(await repo.identity_or_create("telegram", "5", "en"), "+919812345678")
    blocked = run_cli(tmp_path, "citizens", "block", "--phone", "98123 45678", "--reason", "fake reports")
    assert blocked.returncode == 0, blocked.stderr
    assert "blocked" in blocked.stdout and "9812345678" not in blocked.stdout
    assert "+91XXXXXX5678" in run_cli(tmp_path, "citizens", "blocked").stdout
    assert run_cli(tmp_path, "citizens", "unblock", "--phone", "+919812345678").returncode == 0
    assert "No citizen is blocked." in run_cli(tmp_path, "citizens", "blocked").stdout
    assert run_cli(tmp_path, "citizens", "block", "--phone", "+919800000000").returncode == 2
    async with db.reader() as session:
        actions = [e.action for e in await AuditRepository(session).recent()]
    assert actions == ["citizen.unblock", "citizen.block"]
    await db.dispose()
