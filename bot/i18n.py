"""Message catalogs: Hindi and English texts from locales/*.yaml, looked up by dotted key."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("en", "hi")
FALLBACK = "en"

log = logging.getLogger(__name__)


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = str(value).rstrip("\n")
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """Every message of one language, keyed by dotted name: locales/<lang>.yaml plus locales/<lang>/*.yaml."""
    paths = [LOCALES_DIR / f"{language}.yaml", *sorted((LOCALES_DIR / language).glob("*.yaml"))]
    messages: dict[str, str] = {}
    for path in paths:
        part = _flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        clash = set(part) & set(messages)
        if clash:
            raise ValueError(f"{path}: keys defined twice: {sorted(clash)}")
        messages.update(part)
    return messages


def translate(language: str, key: str, **values: Any) -> str:
    """The message for key in the language (English if missing there), with {placeholders} filled."""
    lang = language if language in LANGUAGES else FALLBACK
    text = catalog(lang).get(key)
    if text is None:
        log.error("missing message %s in %s", key, lang)
        text = catalog(FALLBACK).get(key, key)
    return text.format(**values) if values else text


def has_key(key: str) -> bool:
    return key in catalog(FALLBACK)
