"""Phone numbers: Indian mobiles in E.164, as the bot stores and compares them."""

from __future__ import annotations

import phonenumbers


def normalise_mobile(raw: str) -> str | None:
    """An Indian mobile number in E.164 (+91...), or None if it is not one."""
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) == 12 and digits.startswith("91"):
        text = "+" + digits  # Telegram sends contacts without the plus sign
    try:
        number = phonenumbers.parse(text, "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or number.country_code != 91:
        return None
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
