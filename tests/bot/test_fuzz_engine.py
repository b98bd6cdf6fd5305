"""Fuzzing the engine: random sequences of events never raise, never hit an internal error, never leave a user stuck."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import Runtime
from bot.events import Attachment, Contact, InboundEvent, Location, LocationSource
from bot.i18n import translate
from tests.conversation import MemoryAdapter, jpeg_bytes

_users = itertools.count(10_000)
_updates = itertools.count(1)

PAYLOADS = [
    "menu:report",
    "menu:nearby",
    "menu:status",
    "menu:help",
    "menu:language",
    "menu:home",
    "lang:en",
    "lang:hi",
    "reg:agree",
    "reg:decline",
    "cat:theft",
    "cat:meter_tampering",
    "cat:bogus",
    "target:ivrs",
    "target:location",
    "consumer:yes",
    "consumer:no",
    "pick:none",
    "pick:1",
    "pick:999999",
    "photos:done",
    "note:skip",
    "summary:submit",
    "summary:edit",
    "summary:cancel",
    "edit:category",
    "edit:photos",
    "nb:page:1",
    "nb:page:-1",
    "nb:pick:1",
    "nb:again",
    "st:open:1",
    "st:open:x",
    "st:back",
    "as:accept:1",
    "sup:pick:1",
    "",
    ":",
    "x" * 64,
]
COMMANDS = ["start", "report", "nearby", "status", "help", "cancel", "language", "stats", "mydata", "menu", "nope"]
GOOD_PHOTO = jpeg_bytes()

texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["N3330008565", "n333 000 8565", "1", "2", "English", "हिन्दी", "Done", "", " ", "😀" * 50]),
)
locations = st.builds(
    Location,
    st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(21, 25.5),
    st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(78, 83),
    st.sampled_from(list(LocationSource)),
)
events = st.one_of(
    st.builds(lambda t: {"text": t}, texts),
    st.builds(lambda c: {"text": f"/{c}", "command": c}, st.sampled_from(COMMANDS)),
    st.builds(lambda p: {"choice": p}, st.sampled_from(PAYLOADS)),
    st.builds(lambda loc: {"location": loc}, locations),
    st.builds(
        lambda p, own: {"contact": Contact(p, own)}, st.text(max_size=20) | st.just("+919876543210"), st.booleans()
    ),
    st.builds(
        lambda good: {"attachments": (Attachment(ref="good" if good else "junk", mime_type="image/jpeg"),)},
        st.booleans(),
    ),
    st.builds(lambda kind: {"unsupported": kind}, st.sampled_from(["sticker", "voice", "poll"])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(events, min_size=1, max_size=25))
async def test_random_events_never_break_a_dialog(runtime: Runtime, sequence: list[dict[str, object]]) -> None:
    adapter = MemoryAdapter()
    adapter.files.update(good=GOOD_PHOTO, junk=b"\x00junk")
    user = str(next(_users))
    internal = {translate(lang, "errors.internal") for lang in ("en", "hi")}
    for fields in sequence:  # NaN or infinite coordinates included: channels refuse them, the engine copes anyway
        event = InboundEvent(channel="telegram", external_id=user, update_id=str(next(_updates)), **fields)  # type: ignore[arg-type]
        replies = await runtime.engine.handle(event, adapter)
        await adapter.send(user, replies)
        assert not internal & {r.text for r in replies}, f"internal error after {fields}"
    # Never stuck: /cancel always brings the main menu back.
    replies = await runtime.engine.handle(
        InboundEvent(
            channel="telegram", external_id=user, update_id=str(next(_updates)), text="/cancel", command="cancel"
        ),
        adapter,
    )
    assert replies and replies[-1].choices, [r.text for r in replies]
