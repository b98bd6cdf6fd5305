"""Logs never carry phone numbers, chat ids, bank account numbers or IFSC codes."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logging_setup import ScrubFilter, scrub


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("sending to whatsapp:+919876543210", "sending to whatsapp:[number]"),
        ("contact +91 98765 43210 registered", "contact [phone] registered"),
        ("chat 5512345678 blocked the bot", "chat [number] blocked the bot"),
        ("account 123456789012 ifsc SBIN0001234", "account [number] ifsc [ifsc]"),
        ("complaint VM-2026-000123 assigned", "complaint VM-2026-000123 assigned"),
        ("took 12.5 ms, 3 rows", "took 12.5 ms, 3 rows"),
    ],
)
def test_personal_numbers_are_scrubbed(raw: str, clean: str) -> None:
    assert scrub(raw) == clean


def test_the_filter_scrubs_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter())
    logger = logging.getLogger("test.scrub")
    logger.addHandler(handler)
    try:
        logger.warning("user %s with phone %s", 987654321, "+919876543210")
        try:
            raise ValueError("bad account 000111222333")
        except ValueError:
            logger.exception("failed for chat %d", 4455667788)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    for secret in ("987654321", "9876543210", "000111222333", "4455667788"):
        assert secret not in output
    assert "ValueError: bad account [number]" in output
