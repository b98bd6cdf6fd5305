"""`run_bot.py import-consumers` and `run_bot.py demo-data`: fill the consumer register."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Filled in by the consumer-import work."""
