"""`run_bot.py service-area check|info`, and import-consumers and start-up with a boundaries file."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.service_area import check_command, info_command
from bot.config import Settings, load_settings
from tests.service_area_fixture import SERVED, write_boundaries

ROOT = Path(__file__).resolve().parents[2]


def config_file(tmp_path: Path, boundaries: Path | None, districts: list[str] = SERVED) -> Path:
    config = tmp_path / "config.yaml"
    lines = [f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'cli.db'}", f"data_dir: {tmp_path / 'data'}"]
    if boundaries is not None:
        lines.append(f"service_area:\n  boundaries_file: {boundaries}\n  districts: [{', '.join(districts)}]")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VMITRA_DATA_DIR")}
    return subprocess.run(
        [sys.executable, "run_bot.py", "--config", str(config), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def with_boundaries(tmp_path: Path) -> Settings:
    path = write_boundaries(tmp_path / "districts.geojson")
    return load_settings(config_file(tmp_path, path), environ={})


@pytest.mark.parametrize(
    ("lat", "lon", "printed", "code"),
    [
        (23.5, 79.8, "Beta", 0),
        (23.2, 80.0, "Alpha", 0),  # the shared border: the district listed first
        (22.9, 80.0, "outside (in Delta district, which is not served)", 1),
        (23.85, 79.299, "outside (in no district of ", 1),
    ],
)
async def test_check_prints_the_district_or_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lat: float, lon: float, printed: str, code: int
) -> None:
    settings = with_boundaries(tmp_path)
    assert await check_command(argparse.Namespace(lat=lat, lon=lon), settings) == code
    assert capsys.readouterr().out.startswith(printed)


async def test_check_without_a_file_says_it_is_the_bounding_box(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(environ={})
    assert await check_command(argparse.Namespace(lat=23.85, lon=79.299), settings) == 0
    assert "inside the bounding box (approximate near borders" in capsys.readouterr().out
    assert await check_command(argparse.Namespace(lat=95.0, lon=79.0), settings) == 2


async def test_info_lists_the_served_districts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await info_command(argparse.Namespace(), with_boundaries(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "Service area: boundaries of 3 served districts from " in out
    assert "Pre-filter box: lat 23..24, lon 79..81.9" in out
    assert "Districts served (3): Alpha, Beta, Gamma" in out
    assert "In the file but not served (1): Delta" in out
    assert await info_command(argparse.Namespace(), load_settings(environ={})) == 0
    assert "Districts served (24): Jabalpur, Katni" in capsys.readouterr().out


def test_run_bot_service_area_check_and_a_bad_file(tmp_path: Path) -> None:
    path = write_boundaries(tmp_path / "districts.geojson")
    inside = run_cli(config_file(tmp_path, path), "service-area", "check", "23.65", "81.75")
    assert (inside.returncode, inside.stdout) == (0, "Gamma\n"), inside.stderr
    expected = [
        f"Configuration error: service_area.boundaries_file: {path}: no feature for the served district(s) Omega; "
        "the file names: Alpha, Beta, Delta, Gamma"
    ]
    config = config_file(tmp_path, path, [*SERVED, "Omega"])
    broken = run_cli(config, "service-area", "check", "23.5", "79.8")
    assert (broken.returncode, broken.stderr.strip().splitlines()) == (2, expected)
    bot = run_cli(config)  # the bot itself stops at start-up with the same line
    assert (bot.returncode, bot.stderr.strip().splitlines()) == (2, expected)


def test_import_consumers_skips_rows_outside_the_districts(tmp_path: Path) -> None:
    path = write_boundaries(tmp_path / "districts.geojson")
    register = tmp_path / "register.csv"
    register.write_text(
        "IVRS No,Latitude,Longitude\nA000000001,23.1685,79.9338\nA000000002,23.85,79.299\n", encoding="utf-8"
    )
    result = run_cli(config_file(tmp_path, path), "import-consumers", str(register))
    assert result.returncode == 0, result.stderr
    assert "imported (new IVRS):      1" in result.stdout
    assert "line 3: outside the service area: 23.85, 79.299 (in no served district) [IVRS A000000002]" in result.stdout
