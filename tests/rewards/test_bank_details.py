"""Bank details at rest: validation, Fernet with a key from VMITRA_SECRET_KEY or a demo key, masking."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import load_settings
from bot.rewards.bank import BankDetails, clean_account_number, clean_holder, clean_ifsc
from bot.rewards.crypto import KEY_FILE, BankDataUnreadable, BankKeyMissing, bank_cipher, mask


def test_what_a_citizen_types_is_checked() -> None:
    assert clean_account_number("1234 5678 9012") == "123456789012"
    assert clean_account_number("12345678") is None  # 8 digits
    assert clean_account_number("1" * 19) is None
    assert clean_account_number("12345678901A") is None
    assert clean_ifsc(" sbin0001234 ") == "SBIN0001234"
    for bad in ("SBIN1001234", "SBI00001234", "SBIN000123", "SBIN0001234X", "1234056789A"):
        assert clean_ifsc(bad) is None, bad
    assert clean_holder("  Ravi   Kumar ") == "Ravi Kumar"
    assert clean_holder("R. K. D'Souza-Patel") == "R. K. D'Souza-Patel"
    assert clean_holder("Ravi 123") is None
    assert clean_holder("R") is None


def test_details_never_print_in_full() -> None:
    details = BankDetails(holder="Ravi Kumar", account_number="123456789012", ifsc="SBIN0001234")
    assert mask(details.last4) == details.masked == "XXXXXX9012"
    for shown in (repr(details), str(details), f"{details}", f"{[details]}"):
        assert "123456789012" not in shown and "Ravi" not in shown and "SBIN" not in shown


def test_demo_mode_generates_a_key_once_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(environ={"VMITRA_DATA_DIR": str(tmp_path / "data")})
    with caplog.at_level(logging.WARNING):
        cipher = bank_cipher(settings)
    assert (tmp_path / "data" / KEY_FILE).exists()
    assert (tmp_path / "data" / KEY_FILE).stat().st_mode & 0o077 == 0
    assert "VMITRA_SECRET_KEY" in caplog.text
    token = cipher.encrypt("123456789012")
    assert b"123456789012" not in token
    assert bank_cipher(settings).decrypt(token) == "123456789012"


def test_a_configured_secret_gives_the_key_and_a_real_deployment_needs_one(tmp_path: Path) -> None:
    env = {"VMITRA_DATA_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "123:abc"}
    with pytest.raises(BankKeyMissing):
        bank_cipher(load_settings(environ=env))
    one = bank_cipher(load_settings(environ={**env, "VMITRA_SECRET_KEY": "a long random secret, one"}))
    two = bank_cipher(load_settings(environ={**env, "VMITRA_SECRET_KEY": "a long random secret, two"}))
    token = one.encrypt("SBIN0001234")
    assert one.decrypt(token) == "SBIN0001234"
    with pytest.raises(BankDataUnreadable):
        two.decrypt(token)
    assert not (tmp_path / KEY_FILE).exists()
    settings = load_settings(environ=env).model_copy(update={"secret_key": SecretStr("a long random secret, one")})
    assert bank_cipher(settings).decrypt(token) == "SBIN0001234"
