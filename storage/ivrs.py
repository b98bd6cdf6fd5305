"""IVRS numbers as stored: upper case, without spaces, dashes, dots or slashes.

A module of its own (no database imports), so that the register's reader process starts quickly.
"""

from __future__ import annotations

import re

IVRS_LOOSE = re.compile(r"^[A-Z0-9]{6,20}$")


def normalise_ivrs(text: str) -> str | None:
    """IVRS as stored (upper case, no spaces or dashes), or None if it cannot be one."""
    cleaned = re.sub(r"[\s\-./]", "", text or "").upper()
    return cleaned if IVRS_LOOSE.match(cleaned) and any(ch.isdigit() for ch in cleaned) else None
