"""End-to-end bot testing: the real aiogram dispatcher polling the Bot API stand-in over HTTP.

A test speaks as a Telegram user (`await bot.say(user, "/start")`) and reads what the bot
sent back, exactly as Telegram recorded it.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_bot, create_dispatcher
from bot.i18n import create_i18n
from leadloop.standin import ApiCall, BotApiStandin, make_user, text_message

TOKEN = "123456:TEST-token_for-the-stand-in"


class BotUnderTest:
    def __init__(self, standin: BotApiStandin) -> None:
        self.standin = standin

    async def say(
        self, user_id: int, text: str, *, language_code: str | None = "en", **user: Any
    ) -> ApiCall:
        """Send `text` as the user and return the bot's next message to them."""
        since = len(self.standin.calls)
        sender = make_user(user_id, language_code=language_code, **user)
        self.standin.add_update(text_message(sender, text))
        return await self.next_message(user_id, since=since)

    async def next_message(self, chat_id: int, *, since: int = 0) -> ApiCall:
        return await self.standin.wait_for_call(
            "sendMessage", lambda call: str(call.params["chat_id"]) == str(chat_id), since=since
        )


@pytest.fixture
async def bot(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[BotUnderTest]:
    async with BotApiStandin(token=TOKEN) as standin:
        client = create_bot(TOKEN, standin.base_url)
        dispatcher = create_dispatcher(sessions, create_i18n("en"))
        polling = asyncio.create_task(
            dispatcher.start_polling(
                client, handle_signals=False, close_bot_session=False, polling_timeout=1
            )
        )
        try:
            yield BotUnderTest(standin)
        finally:
            await dispatcher.stop_polling()
            await polling
            await client.session.close()
