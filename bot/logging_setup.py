"""Logging configuration for the bot process."""

from __future__ import annotations

import logging


def setup_logging(level: str) -> None:
    """Plain timestamped lines on stderr; chatty libraries kept at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
