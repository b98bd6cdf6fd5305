"""Pushes over WhatsApp: free text inside the 24-hour window, approved templates outside it, retries,
and photos handed to Twilio as signed, expiring links."""

# ruff: noqa: F811  (the fixtures imported below come back as test parameters)

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import update

from bot.app import Runtime
from bot.channels.whatsapp import WhatsAppChannel
from bot.config import WhatsAppTemplates
from bot.events import Choice, Reply
from bot.media_links import media_token, media_url
from bot.notifier import DeliveryDeferred, DeliveryFailed, enqueue
from storage.models import ChannelIdentity, utcnow
from tests.channels.whatsapp_fixtures import (  # noqa: F401  (fixtures, used as parameters)
    GENERIC_TEMPLATE,
    PUBLIC_BASE_URL,
    SDK_DEPRECATIONS,
    STATUS_TEMPLATE,
    new_wa_user,
    register_on_whatsapp,
    twilio,
    wa,
    wa_client,
    wa_runtime,
    wa_settings,
    whatsapp,
)
from tests.conversation import jpeg_bytes
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fakes.whatsapp_user import WhatsAppUser

UPDATE = Reply(
    text="Complaint VM-2026-000001 is now: In process\nThe vigilance team has the case.",
    choices=[[Choice("st:open:1", "VM-2026-000001")]],
)

pytestmark = SDK_DEPRECATIONS


async def last_wrote(runtime: Runtime, phone: str, ago: timedelta) -> None:
    """Pretend the user's last WhatsApp message was `ago` in the past."""
    async with runtime.db.transaction() as session:
        await session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.channel == "whatsapp", ChannelIdentity.external_id == phone)
            .values(last_inbound_at=utcnow() - ago)
        )


async def test_inside_the_window_a_push_is_free_text(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi, wa_runtime: Runtime
) -> None:
    await register_on_whatsapp(wa)
    await last_wrote(wa_runtime, wa.phone, timedelta(hours=23, minutes=50))
    await whatsapp.push(wa.phone, UPDATE, "status_update")
    [message] = twilio.sent_to(wa.phone)
    assert message.content_sid is None
    assert message.body == "Complaint VM-2026-000001 is now: In process\nThe vigilance team has the case."
    assert message.from_ == "whatsapp:+14155238886"  # no numbered list: a typed number answers the dialog


async def test_outside_the_window_a_push_uses_the_template_for_its_kind(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi, wa_runtime: Runtime
) -> None:
    await register_on_whatsapp(wa)
    await last_wrote(wa_runtime, wa.phone, timedelta(hours=24, minutes=1))
    await whatsapp.push(wa.phone, UPDATE, "status_update")
    await whatsapp.push(wa.phone, Reply(text="A reminder"), "reminder")  # no template of its own: generic
    status, reminder = twilio.sent_to(wa.phone)
    assert status.content_sid == STATUS_TEMPLATE and status.body is None
    assert status.content_variables == {
        "1": "Complaint VM-2026-000001 is now: In process · The vigilance team has the case."
    }
    assert reminder.content_sid == GENERIC_TEMPLATE and reminder.content_variables == {"1": "A reminder"}


async def test_error_63016_falls_back_to_the_template(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi
) -> None:
    await register_on_whatsapp(wa)
    sent_before = len(twilio.messages)
    twilio.fail_next(63016)  # Twilio knows better: the window has closed
    await whatsapp.push(wa.phone, UPDATE, "status_update")
    [message] = twilio.messages[sent_before:]
    assert message.content_sid == STATUS_TEMPLATE
    assert twilio.attempts == sent_before + 2


async def test_error_20429_is_retried_with_backoff(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi
) -> None:
    await register_on_whatsapp(wa)
    twilio.fail_next(20429, times=3)
    started = time.monotonic()
    await whatsapp.push(wa.phone, UPDATE, "status_update")
    assert twilio.attempts == 4 and len(twilio.sent_to(wa.phone)) == 1
    assert time.monotonic() - started >= 0.01 + 0.02 + 0.04  # 10 ms doubling, as configured for tests


async def test_persistent_20429_defers_the_push(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi
) -> None:
    await register_on_whatsapp(wa)
    twilio.fail_next(20429, times=100)
    with pytest.raises(DeliveryDeferred):
        await whatsapp.push(wa.phone, UPDATE, "status_update")
    assert twilio.attempts == 4  # twilio.max_send_attempts


async def test_pushes_that_can_never_go_fail_for_good(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi, wa_runtime: Runtime
) -> None:
    await register_on_whatsapp(wa)
    twilio.fail_next(63003)  # the number is not on WhatsApp any more
    with pytest.raises(DeliveryFailed):
        await whatsapp.push(wa.phone, UPDATE, "status_update")
    await last_wrote(wa_runtime, wa.phone, timedelta(days=3))
    no_templates = whatsapp.settings.whatsapp.model_copy(update={"templates": WhatsAppTemplates()})
    whatsapp.settings = whatsapp.settings.model_copy(update={"whatsapp": no_templates})
    with pytest.raises(DeliveryFailed, match="no template"):
        await whatsapp.push(wa.phone, UPDATE, "status_update")


async def test_the_notifier_delivers_through_the_channel(
    wa: WhatsAppUser, twilio: FakeTwilioApi, wa_runtime: Runtime
) -> None:
    await register_on_whatsapp(wa)
    await last_wrote(wa_runtime, wa.phone, timedelta(hours=30))
    assert wa_runtime.notifier.adapters["whatsapp"] is not None  # mount_whatsapp registered the channel
    async with wa_runtime.db.transaction() as session:
        await enqueue(session, "whatsapp", wa.phone, UPDATE, "status_update")
    await wa_runtime.notifier.start()
    [message] = await twilio.wait_for_messages(1, to=wa.phone)
    assert message.content_sid == STATUS_TEMPLATE


async def test_photos_go_out_as_signed_links_twilio_can_fetch(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi, wa_runtime: Runtime, wa_client: TestClient
) -> None:
    await register_on_whatsapp(wa)
    stored = wa_runtime.photo_store.ingest(jpeg_bytes(exif_gps=True))
    await whatsapp.push(wa.phone, Reply(text="Site photo", photos=[stored.path]), "officer_assignment")
    photo, text = twilio.sent_to(wa.phone)[-2:]
    [link] = photo.media_urls
    assert link.startswith(PUBLIC_BASE_URL + "/media/")
    assert photo.body is None and text.body == "Site photo"  # WhatsApp: one photo per message, then the text
    response = await wa_client.get(link.removeprefix(PUBLIC_BASE_URL))
    assert response.status == 200
    assert await response.read() == wa_runtime.photo_store.path_of(stored.path).read_bytes()
    assert response.headers["Cache-Control"].startswith("private")
    assert response.content_type == "image/jpeg"


async def test_forged_or_expired_photo_links_are_refused(
    wa_client: TestClient, wa_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = wa_runtime.settings
    stored = wa_runtime.photo_store.ingest(jpeg_bytes())
    token = media_token(settings, stored.path)
    assert (await wa_client.get(f"/media/{token}")).status == 200
    assert (await wa_client.get(f"/media/{token[:-2]}xx")).status == 404
    assert (await wa_client.get(f"/media/{stored.path.replace('/', '')}")).status == 404
    traversal = media_token(settings, "../media_links.key")
    assert (await wa_client.get(f"/media/{traversal}")).status == 404
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: int(time.time()) - 601)
    old = media_url(settings, stored.path).removeprefix(PUBLIC_BASE_URL)
    monkeypatch.undo()
    assert (await wa_client.get(old)).status == 410
