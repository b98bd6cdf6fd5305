"""Fuzzing the wires: random Twilio forms (correctly signed) and Telegram updates of the wrong shape are
refused cleanly or answered, never a server error, never an exception out of the parser."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.channels.telegram_wire import event_from_update
from tests.channels.whatsapp_fixtures import *  # noqa: F403
from tests.channels.whatsapp_fixtures import SDK_DEPRECATIONS
from tests.fakes.whatsapp_user import WhatsAppUser

pytestmark = SDK_DEPRECATIONS

TWILIO_KEYS = [
    "MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0", "Latitude", "Longitude",
    "Address", "Label", "ProfileName", "WaId", "AccountSid", "SmsStatus", "ButtonPayload",
]  # fmt: skip
values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["whatsapp:+919876543210", "+919876543210", "whatsapp:", "1", "-1", "99", "nan", "1e309"]),
    st.sampled_from(["23.1685", "79.9338", "image/jpeg", "application/pdf", "http://127.0.0.1:1/x", ""]),
)
forms = st.dictionaries(st.sampled_from(TWILIO_KEYS) | st.text(string.ascii_letters, max_size=12), values, max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=forms)
async def test_random_signed_twilio_forms_never_break_the_webhook(wa: WhatsAppUser, form: dict[str, str]) -> None:
    posted = await wa.post(form, signature=wa.sign(form))
    assert posted.status in (200, 400), (posted.status, posted.text, form)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
message_keys = ["message_id", "date", "chat", "from", "text", "location", "contact", "photo", "document", "entities"]
updates = st.fixed_dictionaries(
    {"update_id": st.integers(0, 2**31)},
    optional={
        "message": st.dictionaries(st.sampled_from(message_keys), json_values, max_size=8),
        "callback_query": st.dictionaries(st.sampled_from(["id", "from", "data", "message"]), json_values),
        "edited_message": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(payload=updates)
def test_telegram_updates_of_the_wrong_shape_are_refused_or_ignored(payload: dict[str, Any]) -> None:
    bot = Bot("123:ABC")
    try:
        update = Update.de_json(payload, bot)
    except Exception:
        return  # python-telegram-bot refuses it: the webhook answers 400 (tests/channels/test_telegram.py)
    event = event_from_update(update) if update is not None else None
    if event is not None:
        assert event.channel == "telegram" and event.external_id
