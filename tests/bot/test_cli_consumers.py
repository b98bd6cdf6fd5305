"""Admin CLI: import-consumers and demo-data, run as real subprocesses against a temporary database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
HEADER = "IVRS No,Consumer Name,Address,District,Tariff Category,Sanctioned Load (kW),Latitude,Longitude"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'cli.db'}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VMITRA_DATA_DIR")}
    return subprocess.run(
        [sys.executable, "run_bot.py", "--config", str(config), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def consumers_in(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "cli.db") as connection:
        return connection.execute("SELECT ivrs, name, district FROM consumers ORDER BY ivrs").fetchall()


def test_import_prints_the_report_and_stores_the_good_rows(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text(
        "\n".join(
            [
                HEADER,
                'N3330008565,Ramesh Patel,"H.No 12, Ward 5, Gorakhpur, Jabalpur",Jabalpur,LV-1,1.5,23.18,79.95',
                ",No IVRS,,Jabalpur,LV-1,1,23.1,79.9",
                "N3330008566,Far Away,,Delhi,LV-1,1,28.61,77.21",
                "S1234567890,सीता वर्मा,Makronia,Sagar,LV-2,3,23.84,78.74",
            ]
        ),
        encoding="utf-8",
    )
    result = run_cli(tmp_path, "import-consumers", str(register))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Read 4 rows" in out
    assert "imported (new IVRS):      2" in out
    assert "updated (IVRS known):     0" in out
    assert "skipped:                  2" in out
    assert "line 3: missing IVRS" in out
    assert "line 4: outside the service area: 28.61, 77.21 [IVRS N3330008566]" in out
    assert consumers_in(tmp_path) == [
        ("N3330008565", "Ramesh Patel", "Jabalpur"),
        ("S1234567890", "सीता वर्मा", "Sagar"),
    ]


def test_a_missing_file_stops_the_import_with_exit_code_1(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "import-consumers", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1
    assert "Cannot import:" in missing.stderr and "nowhere.csv: file not found" in missing.stderr


# The remaining commands run in this process (the same parser and handlers, without a Python start-up each).


async def run_here(tmp_path: Path, *argv: str) -> int:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'cli.db'}\n", encoding="utf-8")
    args = build_parser().parse_args(["--config", str(config), *argv])
    return await args.handler(args, load_settings(config, environ={}))


async def test_a_file_without_an_ivrs_column_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("Account,Name\n1,Ramesh\n", encoding="utf-8")
    assert await run_here(tmp_path, "import-consumers", str(accounts)) == 1
    assert "no IVRS column; the header row has: 'Account', 'Name'" in capsys.readouterr().err


async def test_reimport_reports_updates_and_max_report_limits_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = tmp_path / "register.csv"
    rows = [f"N{i:010d},Consumer {i},,Jabalpur,LV-1,1,23.1,79.9" for i in range(5)] + [",x,,,,,,"] * 3
    register.write_text("\n".join([HEADER, *rows]), encoding="utf-8")
    assert await run_here(tmp_path, "import-consumers", str(register)) == 0
    assert await run_here(tmp_path, "import-consumers", "--max-report", "1", str(register)) == 0
    out = capsys.readouterr().out.split("Read 8 rows")[-1]
    assert "imported (new IVRS):      0" in out and "updated (IVRS known):     5" in out
    assert "line 7: missing IVRS" in out and "line 8:" not in out
    assert "... and 2 more (list them all with --skipped-csv PATH, or raise --max-report)" in out


async def test_demo_data_writes_a_csv_that_imports_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo.csv"
    assert await run_here(tmp_path, "demo-data", "--consumers", "500", "--seed", "9", "--csv", str(demo)) == 0
    assert f"Wrote 500 demo consumers (seed 9) to {demo}" in capsys.readouterr().out
    assert await run_here(tmp_path, "import-consumers", str(demo)) == 0
    out = capsys.readouterr().out
    assert "imported (new IVRS):      500" in out and "skipped:                  0" in out


async def test_demo_data_fills_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_here(tmp_path, "demo-data", "--consumers", "800") == 0
    assert "imported (new IVRS):      800" in capsys.readouterr().out
    rows = consumers_in(tmp_path)
    assert len(rows) == 800 and len({district for _, _, district in rows}) > 10
