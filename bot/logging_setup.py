"""Logging for the bot process, with a filter that keeps personal data out of every log line."""

from __future__ import annotations

import logging
import re

# Order matters: the WhatsApp address before the bare number it contains.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"whatsapp:\+?\d+"), "whatsapp:[number]"),
    (re.compile(r"\+\d[\d\s-]{8,16}\d"), "[phone]"),
    (re.compile(r"\b[A-Z]{4}0[A-Z0-9]{6}\b"), "[ifsc]"),
    # Ten-digit Indian mobiles, chat ids, bank account numbers: any run of 7 or more digits.
    (re.compile(r"(?<![\w.-])\d{7,}(?![\w.])"), "[number]"),
)


def scrub(text: str) -> str:
    """The text with phone numbers, chat ids, account numbers and IFSC codes replaced."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class ScrubFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) through scrub() before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def setup_logging(level: str) -> None:
    """Plain timestamped lines on stderr, scrubbed of personal data; chatty libraries kept at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
