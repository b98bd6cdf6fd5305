"""Recognises messages about bills, outages, new connections and meter disputes, which belong elsewhere."""

from __future__ import annotations

import re

from bot.dialog import DialogContext

_PATTERNS = [
    # English (and common Hinglish)
    r"\bbill(s|ing|ed)?\b",
    r"\b(power|light|electricity|bijli|light)\s*(cut|gone|off|outage|nahi|nahin|gayi|gai|chali)\b",
    r"\boutages?\b",
    r"\bno (power|electricity|light|supply)\b",
    r"\bnew connection\b",
    r"\b(low|high) voltage\b",
    r"\bmeter\s*(reading|fault|faulty|dispute|slow|fast|kharab|jumping|burnt|burned)\b",
    r"\b(wrong|excess|high|inflated)\s+(bill|reading)\b",
    r"\brecharge\b",
    r"\brefund\b",
    # Hindi
    r"बिल",
    r"बिजली\s*(नहीं|गुल|कटौती|चली|गई|बंद)",
    r"(लाइट|बत्ती)\s*(नहीं|गुल|चली|गई|बंद)",
    r"कटौती",
    r"नया\s*कनेक्शन",
    r"नए\s*कनेक्शन",
    r"मीटर\s*(खराब|रीडिंग|तेज़|तेज|धीमा|जल)",
    r"रीडिंग",
    r"वोल्टेज",
]
_REDIRECT = re.compile("|".join(_PATTERNS), re.IGNORECASE)


def is_grievance(text: str) -> bool:
    """True when the text reads like a billing/outage/connection/meter grievance rather than a theft report."""
    return bool(_REDIRECT.search(text))


def send_redirect(ctx: DialogContext) -> None:
    """Points the user to helpline 1912 and the Nidaan portal; files nothing."""
    helpline = ctx.settings.helpline
    ctx.say(ctx.t("redirect.text", helpline=helpline.phone, nidaan=helpline.nidaan_url))
