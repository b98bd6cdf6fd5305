"""The Hindi and English catalogs carry the same keys and the same placeholders."""

from __future__ import annotations

import re

import pytest

from bot.i18n import LANGUAGES, catalog, translate

PLACEHOLDER = re.compile(r"{(\w+)}")
# ctx.t("a.b"), ctx.choice("payload", "a.b"), ask_location(ctx, "a.b")
KEY_USE = re.compile(r"""(?:t|choice|ask_location)\(\s*(?:\w+,\s*)?(?:"[^"]*",\s*)?"([a-z_]+\.[a-z_.]+)"\s*[,)]""")


def test_both_languages_have_every_key() -> None:
    english, hindi = set(catalog("en")), set(catalog("hi"))
    assert english - hindi == set(), f"missing in hi.yaml: {sorted(english - hindi)}"
    assert hindi - english == set(), f"missing in en.yaml: {sorted(hindi - english)}"


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_placeholders_match_between_languages(key: str) -> None:
    placeholders = {lang: set(PLACEHOLDER.findall(catalog(lang)[key])) for lang in LANGUAGES}
    assert placeholders["en"] == placeholders["hi"], key


def test_hindi_messages_are_in_devanagari() -> None:
    assert "शिकायत" in translate("hi", "report.filed", public_id="VM-2026-000001")
    assert translate("hi", "menu.report") != translate("en", "menu.report")


def test_every_key_used_in_the_code_exists() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    used: set[str] = set()
    for folder in ("handlers", "bot"):
        for path in (root / folder).rglob("*.py"):
            used |= set(KEY_USE.findall(path.read_text()))
    assert len(used) > 60, f"the scan found only {len(used)} keys"
    missing = sorted(key for key in used if key not in catalog("en"))
    assert missing == []


def test_keys_built_at_run_time_exist() -> None:
    from handlers.common import CATEGORIES
    from storage.photo_store import RejectReason

    keys = [f"report.photo_rejected_{reason}" for reason in RejectReason]
    keys += [f"categories.{category}" for category in CATEGORIES]
    keys += [f"status.{s}" for s in ("pending", "in_process", "complete")]
    keys += [f"status.complete_{o}" for o in ("confirmed", "not_found", "false_report")]
    keys += ["report.location_not_gps", "report.location_outside", "report.location_unserved_district"]
    assert [key for key in keys if key not in catalog("en")] == []
