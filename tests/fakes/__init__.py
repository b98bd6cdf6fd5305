"""Fakes for tests and benchmarks: a fake Telegram Bot API server and a simulated Telegram user.

    from tests.fakes.bot_api import FakeBotApi
    from tests.fakes.telegram_user import TelegramUser

    async with FakeBotApi() as api:           # the Bot API on 127.0.0.1:<free port>
        ...                                   # point PTB at api.base_url / api.base_file_url
        user = TelegramUser(api, 1001)
        await user.send("/start")
        await user.expect("welcome")

Modules: bot_api (HTTP server, control API, CLI), bot_api_state (memory), bot_api_methods (the Bot
API methods), updates (update builders, SentMessage), telegram_user (the driver and its transports).
Nothing is imported here, so `python -m tests.fakes.bot_api` runs without a double import.
"""
