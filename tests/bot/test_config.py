"""Configuration: the shipped file loads, environment overrides it, a broken file gives one clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_loads_with_documented_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG_PATH, environ={})
    assert settings.nearby.radius_m == 750
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert len(settings.service_area.districts) == 24
    assert settings.telegram.token is None


def test_environment_overrides_secrets_and_urls() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "tok",
        "VMITRA_SECRET_KEY": "k" * 44,
    }
    settings = load_settings(DEFAULT_CONFIG_PATH, environ=env)
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:abc"
    assert settings.database.url == "postgresql+asyncpg://u@h/db"
    assert settings.twilio.account_sid == "AC1"
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "k" * 44
    # Secrets never show in the settings' repr.
    assert "123:abc" not in repr(settings)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("nearby:\n  radius_m: -5\n", "nearby.radius_m: Input should be greater than 0 (got -5)"),
        ("nearby:\n  radius_m: far\n", "nearby.radius_m: Input should be a valid integer"),
        ("nearbyy:\n  radius_m: 5\n", "nearbyy: unknown setting"),
        ("database:\n  url: mysql://x\n", "database.url: Value error, must start with sqlite+aiosqlite://"),
        ("http: [1, 2]\n", "http: Input should be a valid dictionary"),
        ("nearby: {radius_m: 5\n", "not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_broken_config_names_the_key_and_why(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_run_bot_stops_with_one_clear_line_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("nearby:\n  page_size: 0\n")
    result = subprocess.run(
        [sys.executable, "run_bot.py", "--config", str(path), "db", "upgrade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: {path}: invalid setting: nearby.page_size: "
        "Input should be greater than or equal to 1 (got 0)"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("7d", 604800), ("4h", 14400), ("30m", 1800), ("10s", 10), ("1d12h", 129600), (90, 90)]
)
def test_durations_are_written_the_human_way(tmp_path: Path, text: object, seconds: float) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"sla:\n  accept_within: {text}\n")
    assert load_settings(path, environ={}).sla.accept_within.total_seconds() == seconds


def test_a_bad_duration_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("sla:\n  complete_within: soon\n")
    with pytest.raises(ConfigError, match=r"sla\.complete_within: Value error, must be a duration"):
        load_settings(path, environ={})
