"""Fixtures for the WhatsApp tests: the bot's real aiohttp app on loopback, a runtime on a fresh SQLite
database with a few consumers, and the fake Twilio REST API the bot's SDK client talks to.

Import the fixtures into a test module: `from tests.channels.whatsapp_fixtures import *  # noqa: F403`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import Runtime, build_runtime
from bot.channels.whatsapp import WhatsAppChannel, mount_whatsapp
from bot.config import Settings, TwilioSettings, WhatsAppSettings, WhatsAppTemplates, load_settings
from bot.http_server import build_http_app
from storage.db import Database
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fakes.whatsapp_user import WhatsAppUser
from tests.world import seed_consumers

__all__ = [
    "GENERIC_TEMPLATE",
    "PUBLIC_BASE_URL",
    "SDK_DEPRECATIONS",
    "STATUS_TEMPLATE",
    "new_wa_user",
    "register_on_whatsapp",
    "twilio",
    "wa",
    "wa_client",
    "wa_runtime",
    "wa_settings",
    "whatsapp",
]

# Twilio calls the bot through a TLS proxy; the tests reach the same app on http://127.0.0.1:<port>.
PUBLIC_BASE_URL = "https://vmitra.example.org"
BOT_NUMBER = "whatsapp:+14155238886"
STATUS_TEMPLATE = "HX" + "5" * 32
GENERIC_TEMPLATE = "HX" + "9" * 32
WHATSAPP = web.AppKey("whatsapp", WhatsAppChannel)
# twilio 9.13's AsyncTwilioHttpClient still passes aiohttp's deprecated BasicAuth/auth=; not ours to fix.
SDK_DEPRECATIONS = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

# Around Jabalpur's Wright Town (23.1685 N, 79.9338 E), as in tests/handlers.
CONSUMERS = [
    ("N3330008565", "H.No 12, Wright Town, Jabalpur", "LV-1", 2.0, 23.16850, 79.93380),
    ("N3330008566", "Shop 4, Russell Chowk, Jabalpur", "LV-2", 5.0, 23.16900, 79.93420),
    ("N3330008567", "Plot 9, Napier Town, Jabalpur", "LV-1", 1.0, 23.17100, 79.93600),
]


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi() as api:
        yield api


@pytest.fixture
def wa_settings(tmp_path: Path, twilio: FakeTwilioApi) -> Settings:
    base = load_settings(environ={})
    return base.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "twilio": TwilioSettings(
                account_sid=twilio.account_sid,
                auth_token=SecretStr(twilio.auth_token),
                api_base_url=twilio.base_url,
                webhook_path="/twilio/whatsapp",
                max_send_attempts=4,
            ),
            "whatsapp": WhatsAppSettings(
                from_number=BOT_NUMBER,
                session_window_hours=24,
                media_url_ttl_s=600,
                templates=WhatsAppTemplates(status_update=STATUS_TEMPLATE, generic=GENERIC_TEMPLATE),
            ),
            "http": base.http.model_copy(update={"public_base_url": PUBLIC_BASE_URL}),
            "notifier": base.notifier.model_copy(update={"poll_every": timedelta(seconds=0.05)}),
            # The transcripts file several complaints in a row; the limits have their own tests.
            "abuse": base.abuse.model_copy(update={"min_gap_between_complaints": timedelta(0)}),
        }
    )


@pytest.fixture
async def wa_runtime(wa_settings: Settings, sqlite_db: Database) -> AsyncIterator[Runtime]:
    await seed_consumers(sqlite_db, CONSUMERS)
    runtime = await build_runtime(wa_settings, sqlite_db)
    yield runtime
    await runtime.engine.drain()
    await runtime.notifier.stop()


@pytest.fixture
async def wa_client(wa_runtime: Runtime) -> AsyncIterator[TestClient]:
    """The bot's HTTP app with the WhatsApp routes, served on 127.0.0.1."""
    app = build_http_app(wa_runtime.settings)
    channel = mount_whatsapp(app, wa_runtime)
    assert channel is not None
    channel.sender.backoff_s = 0.01
    app[WHATSAPP] = channel
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def whatsapp(wa_client: TestClient) -> WhatsAppChannel:
    return wa_client.app[WHATSAPP]


@pytest.fixture
def new_wa_user(wa_client: TestClient, twilio: FakeTwilioApi) -> Callable[..., WhatsAppUser]:
    def make(phone: str = "+919876543210") -> WhatsAppUser:
        return WhatsAppUser(wa_client, twilio, public_base_url=PUBLIC_BASE_URL, phone=phone)

    return make


@pytest.fixture
def wa(new_wa_user: Callable[..., WhatsAppUser]) -> WhatsAppUser:
    return new_wa_user()


async def register_on_whatsapp(wa: WhatsAppUser) -> None:
    """hi -> English -> I agree: WhatsApp vouches for the number, so no contact step."""
    await wa.send("hi")
    wa.expect("Choose your language")
    await wa.send("2")
    wa.expect("Do you agree?")
    await wa.send("1")
    wa.expect("you are registered")
