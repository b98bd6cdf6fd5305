"""Twilio's webhook form to events, and replies to WhatsApp messages: pure functions, no network."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.channels.whatsapp_wire import (
    MAX_BODY,
    FormError,
    OutMessage,
    choice_numbers,
    event_from_form,
    render,
    split_text,
    template_text,
    twiml,
)
from bot.engine import DialogEngine
from bot.events import Ask, Choice, LocationSource, MapPin, Reply


def form(**fields: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "a" * 32, "From": "whatsapp:+919876543210", "Body": "", "NumMedia": "0", **fields}


def link(path: str) -> str:
    return f"https://bot.example.org/media/{path}"


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("menu", "menu"), ("मेनू", "menu"), ("Help", "help"), ("मदद", "help"), ("सहायता", "help"),
        ("status", "status"), ("स्थिति", "status"), ("cancel", "cancel"), ("रद्द", "cancel"),
        ("report", "report"), ("शिकायत", "report"), ("nearby", "nearby"), ("पास", "nearby"),
        ("language", "language"), ("भाषा", "language"), ("hi", "start"), ("Hello!", "start"),
        ("नमस्ते", "start"), ("/start", "start"), ("/status", "status"), (" Menu. ", "menu"),
        ("hi there", None), ("my neighbour's meter", None), ("2", None),
    ],
)  # fmt: skip
def test_text_commands_in_both_languages(body: str, command: str | None) -> None:
    event = event_from_form(form(Body=body))
    assert event is not None and event.command == command and event.text == body.strip()


def test_the_sender_is_identified_and_vouched_for_by_whatsapp() -> None:
    event = event_from_form(form(Body="hi", ProfileName="Ravi", WaId="919876543210"))
    assert event is not None
    assert (event.channel, event.external_id, event.verified_phone) == ("whatsapp", "+919876543210", "+919876543210")
    assert event.update_id == "SM" + "a" * 32
    assert "Ravi" not in repr(event)


@pytest.mark.parametrize(("typed", "answer"), [("2", "2"), ("२", "2"), (" 3. ", "3"), ("१०", "10"), ("2)", "2")])
def test_typed_numbers_are_plain_digits(typed: str, answer: str) -> None:
    event = event_from_form(form(Body=typed))
    assert event is not None and event.text == answer


def test_locations_current_and_picked() -> None:
    current = event_from_form(form(Latitude="23.1685", Longitude="79.9338", MessageType="location"))
    assert current is not None and current.location is not None
    assert (current.location.latitude, current.location.longitude) == (23.1685, 79.9338)
    assert current.location.source is LocationSource.GPS
    picked = event_from_form(form(Latitude="23.1685", Longitude="79.9338", Address="Wright Town", Label="Shop"))
    assert picked is not None and picked.location is not None and picked.location.source is LocationSource.MAP


def test_media_become_attachments_with_their_types() -> None:
    event = event_from_form(
        form(
            NumMedia="3",
            Body="caption",
            MediaUrl0="https://api.twilio.com/m/0",
            MediaContentType0="image/jpeg",
            MediaUrl1="https://api.twilio.com/m/1",
            MediaContentType1="application/pdf",
            MediaUrl2="https://api.twilio.com/m/2",
            MediaContentType2="audio/ogg",
        )
    )
    assert event is not None and event.text is None
    assert [(a.ref[-1], a.mime_type, a.is_photo) for a in event.attachments] == [
        ("0", "image/jpeg", True),
        ("1", "application/pdf", False),
        ("2", "audio/ogg", False),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"MessageSid": ""},
        {"From": ""},
        {"From": "whatsapp:919876543210"},
        {"Latitude": "x", "Longitude": "1"},
        {"Latitude": "91", "Longitude": "1"},
        {"Latitude": "nan", "Longitude": "1"},
        {"NumMedia": "many"},
    ],
)
def test_malformed_forms_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(FormError):
        event_from_form(form(**fields))


def test_other_channels_and_empty_messages() -> None:
    assert event_from_form(form(From="+919876543210", Body="hi")) is None  # SMS
    event = event_from_form(form(MessageType="interactive"))
    assert event is not None and event.unsupported


def test_choices_become_a_numbered_list_and_only_the_last_list_counts() -> None:
    replies = [
        Reply(text="Photo received", choices=[[Choice("photos:done", "✅ Done")]]),
        Reply(text="Which irregularity?", choices=[[Choice("cat:a", "Theft")], [Choice("cat:b", "Meter tampering")]]),
    ]
    [message] = render(replies, "en", link)
    assert (
        message.body == "Photo received\n\nWhich irregularity?\n\n1. Theft\n2. Meter tampering\n\nReply with a number."
    )


def test_asks_get_a_hint_in_the_citizens_language() -> None:
    ask = Reply(text="स्थान भेजें", ask=Ask.LOCATION, choices=[[Choice("menu:home", "🏠 मुख्य मेनू")]])
    [message] = render([ask], "hi", link)
    assert "📎 → लोकेशन" in message.body and "1. 🏠 मुख्य मेनू" in message.body and "नंबर लिखकर" in message.body
    [photo] = render([Reply(text="Send photos", ask=Ask.PHOTO)], "en", link)
    assert "Tap 📎 → Camera or Gallery" in photo.body


def test_photos_and_pins() -> None:
    reply = Reply(text="Here", photos=["ab/abc.jpg", "cd/cde.jpg"], pin=MapPin(23.1685, 79.9338))
    messages = render([Reply(text="Before"), reply], "en", link)
    assert messages == [
        OutMessage(body="Before"),
        OutMessage(media_url=link("ab/abc.jpg")),
        OutMessage(media_url=link("cd/cde.jpg")),
        OutMessage(body="Here\n\n📍 Map: https://www.google.com/maps?q=23.168500,79.933800"),
    ]


def test_long_texts_are_split_at_the_body_limit() -> None:
    text = "\n".join(f"{n}. N44400{n:05d} · 20 m · House {n}, Street 7, Jabalpur · LV-1 · 1.5 kW" for n in range(60))
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= MAX_BODY for p in parts)
    assert "\n".join(parts) == text
    assert all(len(m.body or "") <= MAX_BODY for m in render([Reply(text=text), Reply(text="x" * 3000)], "en", link))


def test_template_variables_have_no_new_lines() -> None:
    text = template_text([Reply(text="Complaint VM-1\n\nStatus:   In process"), Reply(text="Thanks")])
    assert text == "Complaint VM-1 · Status: In process · Thanks"


def test_twiml_escapes_and_carries_media() -> None:
    xml = twiml([OutMessage(body="<b> & ✅"), OutMessage(media_url="https://bot.example.org/media/t?a=1&b=2")])
    root = ET.fromstring(xml)
    first, second = root.findall("Message")
    assert first.text == "<b> & ✅"
    assert [m.text for m in second.findall("Media")] == ["https://bot.example.org/media/t?a=1&b=2"]
    assert ET.fromstring(twiml([])).findall("Message") == []


class _Numbered:
    name = "whatsapp"
    numbered_choices = True


def _engine_pick(offered: list[Choice], typed: str) -> str | None:
    from bot.events import InboundEvent

    event = InboundEvent(channel="whatsapp", external_id="+91", text=typed)
    data = {"_choices": [[c.payload, c.label] for c in offered]}
    resolved = DialogEngine._resolve_choice(event, data, _Numbered())  # type: ignore[arg-type]
    return resolved.choice


def _nearby_page(first: int) -> list[Choice]:
    picks = [Choice(f"nb:pick:{n}", str(n)) for n in range(first, first + 10)]
    return [*picks, Choice("nb:page:0", "◀ Previous"), Choice("nb:page:2", "Next ▶"), Choice("menu:home", "🏠 Menu")]


@pytest.mark.parametrize(
    "offered",
    [
        [Choice("lang:hi", "हिन्दी"), Choice("lang:en", "English")],
        [Choice(f"cat:{n}", f"Category {n}") for n in range(1, 9)],
        _nearby_page(1),
    ],
)
def test_the_numbers_drawn_are_the_numbers_the_engine_resolves(offered: list[Choice]) -> None:
    for number, choice in zip(choice_numbers(offered), offered, strict=True):
        assert _engine_pick(offered, str(number)) == choice.payload


def test_page_two_of_nearby_numbers_consumers_as_the_text_does() -> None:
    offered = _nearby_page(11)
    assert choice_numbers(offered) == [*range(11, 21), 21, 22, 23]
    for number, choice in zip(choice_numbers(offered), offered, strict=True):
        assert _engine_pick(offered, str(number)) == choice.payload


def test_labels_can_be_typed_without_their_emoji() -> None:
    offered = [Choice("reg:agree", "✅ I agree"), Choice("reg:decline", "✖ No thanks")]
    assert _engine_pick(offered, "i agree") == "reg:agree"
    assert _engine_pick([Choice("reg:agree", "✅ मैं सहमत हूँ")], "मैं सहमत हूँ") == "reg:agree"
