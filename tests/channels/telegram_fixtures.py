"""Fixtures for end-to-end Telegram tests: the real python-telegram-bot client against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.app import Runtime
from bot.channels.telegram import TelegramChannel
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as api:
        yield api


def telegram_channel(runtime: Runtime, api: FakeBotApi) -> TelegramChannel:
    """The bot's Telegram channel pointed at the fake, registered with the runtime's notifier."""
    channel = TelegramChannel(
        runtime.engine, TOKEN, base_url=api.base_url, base_file_url=api.base_file_url, pool_size=8, poll_timeout_s=1
    )
    runtime.notifier.adapters[channel.name] = channel
    return channel


@pytest.fixture
async def telegram(runtime: Runtime, bot_api: FakeBotApi) -> AsyncIterator[TelegramChannel]:
    """A running Telegram channel (long polling) with the notifier delivering pushes through it."""
    channel = telegram_channel(runtime, bot_api)
    await channel.start()
    await runtime.notifier.start()
    yield channel
    await channel.stop()
    await runtime.notifier.stop()


@pytest.fixture
def tg_user(bot_api: FakeBotApi, telegram: TelegramChannel) -> Callable[..., TelegramUser]:
    def make(user_id: int = 1001, language_code: str = "en") -> TelegramUser:
        return TelegramUser(bot_api, user_id, language_code=language_code)

    return make


async def tg_register(user: TelegramUser, phone: str = "+919876543210") -> None:
    """Registers through the real buttons: language, terms, the share-contact button."""
    await user.send("/start")
    await user.press("English")
    await user.press("I agree")
    await user.expect("share your mobile number")
    assert any(b.request_contact for b in user.reply_keyboard)
    await user.share_contact(phone, own=True)
    await user.expect("you are registered")


async def tg_report_by_ivrs(user: TelegramUser, ivrs: str = "N3330008565") -> None:
    """Starts a report of meter tampering by the consumer's IVRS and confirms the consumer, up to the photos."""
    await user.send("/report")
    await user.press("Meter tampering")
    await user.press("Yes, I know the IVRS")
    await user.send(ivrs)
    await user.press("Yes, this one")
    await user.expect("photos of the irregularity")
