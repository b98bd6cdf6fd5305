"""The Twilio webhook: signatures over the public URL, bad forms, redeliveries, TwiML versus REST."""

# ruff: noqa: F811  (the fixtures imported below come back as test parameters)

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.app import Runtime
from bot.channels.whatsapp import WhatsAppChannel, mount_whatsapp
from bot.config import ConfigError, TwilioSettings
from bot.http_server import build_http_app
from storage.models import ChannelIdentity, Citizen, ProcessedUpdate
from tests.channels.whatsapp_fixtures import (  # noqa: F401  (fixtures, used as parameters)
    PUBLIC_BASE_URL,
    SDK_DEPRECATIONS,
    new_wa_user,
    register_on_whatsapp,
    twilio,
    wa,
    wa_client,
    wa_runtime,
    wa_settings,
    whatsapp,
)
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fakes.whatsapp_user import WhatsAppUser, parse_twiml

pytestmark = SDK_DEPRECATIONS


async def stored_rows(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.reader() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (Citizen, ChannelIdentity, ProcessedUpdate)
        }


NOTHING = {"citizens": 0, "channel_identities": 0, "processed_updates": 0}


async def test_an_unknown_number_saying_hi_is_asked_for_a_language(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    [reply] = await wa.send("hi")
    assert reply.via == "twiml"
    assert "Choose your language" in reply.body
    assert "1. हिन्दी\n2. English" in reply.body
    assert "Reply with a number." in reply.body
    assert await stored_rows(wa_runtime) == {"citizens": 1, "channel_identities": 1, "processed_updates": 1}


async def test_a_forged_signature_gets_403_and_stores_nothing(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    form = wa.form(Body="hi")
    forged = wa.sign(form).swapcase()
    assert (await wa.post(form, signature=forged)).status == 403
    assert (await wa.post(form)).status == 403  # no signature header at all
    other_token = RequestValidator("not-the-token")
    assert (await wa.post(form, signature=other_token.compute_signature(wa.public_url, form))).status == 403
    assert await stored_rows(wa_runtime) == NOTHING


async def test_a_signature_over_another_url_is_refused(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    form = wa.form(Body="hi")
    internal = str(wa.client.make_url(wa.path))  # what the bot's socket sees, not what Twilio called
    for url in (internal, PUBLIC_BASE_URL + "/twilio/other", "http://vmitra.example.org/twilio/whatsapp"):
        assert (await wa.post(form, signature=wa.sign(form, url))).status == 403, url
    assert await stored_rows(wa_runtime) == NOTHING


async def test_a_changed_parameter_breaks_the_signature(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    form = wa.form(Body="hi")
    signature = wa.sign(form)
    tampered = {**form, "From": "whatsapp:+919812345678"}
    assert (await wa.post(tampered, signature=signature)).status == 403
    assert await stored_rows(wa_runtime) == NOTHING


async def test_the_query_string_is_part_of_the_signed_url(wa: WhatsAppUser) -> None:
    form = wa.form(Body="hi")
    signature = wa.sign(form, wa.public_url + "?tenant=mp-east")
    response = await wa.client.post(wa.path + "?tenant=mp-east", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status == 200
    assert "Choose your language" in parse_twiml(await response.text())[0].body


async def test_missing_parameters_are_a_bad_request(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    for missing in ("MessageSid", "From"):
        form = wa.form(Body="hi")
        form.pop(missing)
        if missing == "MessageSid":
            form.pop("SmsMessageSid")
        posted = await wa.post(form, signature=wa.sign(form))
        assert posted.status == 400, missing
    bad_location = wa.form(Latitude="north", Longitude="79.9")
    assert (await wa.post(bad_location, signature=wa.sign(bad_location))).status == 400
    bad_sender = wa.form(Body="hi", From="whatsapp:12345")
    assert (await wa.post(bad_sender, signature=wa.sign(bad_sender))).status == 400
    assert await stored_rows(wa_runtime) == NOTHING


async def test_an_sms_to_the_same_number_is_acknowledged_and_ignored(wa: WhatsAppUser, wa_runtime: Runtime) -> None:
    form = wa.form(Body="hi", From="+919876543210", To="+14155238886")
    posted = await wa.post(form, signature=wa.sign(form))
    assert posted.status == 200 and parse_twiml(posted.text) == []
    assert await stored_rows(wa_runtime) == NOTHING


async def test_a_redelivered_message_is_acknowledged_and_not_processed_again(
    wa: WhatsAppUser, wa_runtime: Runtime
) -> None:
    await wa.send("hi")
    await wa.send("2")
    wa.expect("Language set to English")
    wa.expect("Do you agree?")
    again = await wa.redeliver()  # Twilio retries "2" with the same MessageSid
    assert again == []
    await wa.send("1")
    wa.expect("you are registered")
    assert (await stored_rows(wa_runtime))["processed_updates"] == 3
    assert await wa.redeliver() == []
    assert "registered" in wa.last.body


async def test_a_slow_dialog_answers_through_the_rest_api(
    wa: WhatsAppUser, whatsapp: WhatsAppChannel, twilio: FakeTwilioApi
) -> None:
    whatsapp.reply_budget_s = 0  # the webhook cannot wait: it acknowledges with empty TwiML
    assert await wa.send("hi") == []
    [pushed] = await wa.wait_rest(1)
    assert pushed.via == "rest" and "Choose your language" in pushed.body
    [message] = twilio.sent_to(wa.phone)
    assert message.from_ == "whatsapp:+14155238886" and message.to == "whatsapp:+919876543210"
    assert message.content_sid is None  # inside the 24-hour window: free text
    whatsapp.reply_budget_s = 10
    await wa.send("2")
    wa.expect("Do you agree?")
    assert len(twilio.messages) == 1


async def test_a_sticker_is_not_a_photo(wa: WhatsAppUser, twilio: FakeTwilioApi) -> None:
    await register_on_whatsapp(wa)
    url = twilio.add_media(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
    await wa.deliver(wa.form(NumMedia="1", MediaUrl0=url, MediaContentType0="image/webp", MessageType="sticker"))
    wa.expect("I cannot use a sticker here")
    assert twilio.media_requests == []


async def test_whatsapp_is_mounted_only_when_configured(wa_runtime: Runtime) -> None:
    settings = wa_runtime.settings
    off = settings.model_copy(update={"twilio": TwilioSettings()})
    app = build_http_app(off)
    assert mount_whatsapp(app, replace(wa_runtime, settings=off)) is None
    assert not [r for r in app.router.routes() if r.method == "POST"]
    half = settings.model_copy(update={"http": settings.http.model_copy(update={"public_base_url": None})})
    with pytest.raises(ConfigError, match="public_base_url"):
        mount_whatsapp(build_http_app(half), replace(wa_runtime, settings=half))
