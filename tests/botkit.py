"""End-to-end bot testing: the real aiogram dispatcher polling the Bot API stand-in over HTTP.

A test speaks as a Telegram user (`await bot.say(user, "/start")`), presses buttons
(`await bot.press(user, message, "Stage")`) and reads what the bot sent back, exactly as
Telegram recorded it: `call.text` is what the person sees, `buttons(call)` the buttons.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_bot, create_dispatcher
from bot.i18n import create_i18n
from bot.outbox_sender import OutboxSender
from bot.pushes import PushRenderer
from leadloop.standin import (
    ApiCall,
    BotApiStandin,
    callback_query,
    contact_message,
    make_user,
    text_message,
)

TOKEN = "123456:TEST-token_for-the-stand-in"
#: Bot API methods that put something in front of the person.
SHOWING = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument")


def text_of(call: ApiCall) -> str:
    """What the person reads: the message text as Telegram shows it (tags applied)."""
    result = call.response.get("result")
    if isinstance(result, dict):
        return result.get("text") or result.get("caption") or ""
    return str(call.params.get("text", ""))


def buttons(call: ApiCall) -> list[list[dict[str, Any]]]:
    """The inline (or reply) keyboard sent with a call, as rows of button dicts."""
    markup = call.params.get("reply_markup") or {}
    return markup.get("inline_keyboard") or markup.get("keyboard") or []


def button_texts(call: ApiCall) -> list[str]:
    return [button["text"] for row in buttons(call) for button in row]


def message_of(call: ApiCall) -> dict[str, Any]:
    """The Telegram message a send or edit produced (to press its buttons)."""
    result = call.response["result"]
    assert isinstance(result, dict), call.response
    return result


class BotUnderTest:
    def __init__(self, standin: BotApiStandin) -> None:
        self.standin = standin
        self._handled: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)

    async def track(
        self,
        handler: Callable[[Update, dict[str, Any]], Awaitable[Any]],
        update: Update,
        data: dict[str, Any],
    ) -> Any:
        """The dispatcher's outer middleware: notes when the bot is done with an update."""
        try:
            return await handler(update, data)
        finally:
            self._handled[update.update_id].set()

    async def handled(self, update: dict[str, Any]) -> None:
        """Wait until the bot has finished with the update: all it sent for it is recorded."""
        await asyncio.wait_for(self._handled[update["update_id"]].wait(), timeout=10)

    def mark(self) -> int:
        """Where the recorded calls stand now: wait for calls after this point."""
        return len(self.standin.calls)

    async def shown(self, chat_id: int, *, since: int, method: str | None = None) -> ApiCall:
        """The next message sent or edited for the chat (by `method`, if given) after `since`."""
        methods = (method,) if method else SHOWING
        for _ in range(100):
            for call in self.standin.calls[since:]:
                if call.method in methods and _chat(call) == chat_id:
                    return call
            await asyncio.sleep(0.05)
        raise TimeoutError(f"nothing shown to chat {chat_id}: {self.standin.calls[since:]}")

    async def send(self, update: dict[str, Any], chat_id: int) -> ApiCall:
        """Queue an update and return the first thing shown to the chat in answer."""
        since = self.mark()
        await self.handled(self.standin.add_update(update))
        return await self.shown(chat_id, since=since)

    async def say(
        self, user_id: int, text: str, *, language_code: str | None = "en", **user: Any
    ) -> ApiCall:
        """Send `text` as the user and return the bot's next message to them."""
        sender = make_user(user_id, language_code=language_code, **user)
        return await self.send(text_message(sender, text), user_id)

    async def share_contact(
        self, user_id: int, phone: str, *, own: bool, first_name: str = "Customer"
    ) -> ApiCall:
        """Share a contact: own=True is the person's own number (the keyboard button)."""
        update = contact_message(make_user(user_id), phone, first_name=first_name, own=own)
        return await self.send(update, user_id)

    async def press(
        self,
        user_id: int,
        message: dict[str, Any] | ApiCall,
        label: str | Callable[[str], bool],
        *,
        language_code: str | None = "en",
    ) -> ApiCall:
        """Press the inline button whose text contains `label`; returns what is shown next.

        Also waits for the bot to answer the callback query, as Telegram clients expect.
        """
        shown = message_of(message) if isinstance(message, ApiCall) else message
        data = self.button_data(shown, label)
        return await self.press_data(user_id, shown, data, language_code=language_code)

    async def press_data(
        self,
        user_id: int,
        message: dict[str, Any],
        data: str,
        *,
        language_code: str | None = "en",
    ) -> ApiCall:
        """Press a button with exactly this callback data (a forged one, if you like)."""
        since = self.mark()
        sender = make_user(user_id, language_code=language_code)
        update = self.standin.add_update(callback_query(sender, message, data))
        await self.handled(update)
        return self._shown_or_answer(user_id, since, update["callback_query"]["id"])

    def _shown_or_answer(self, chat_id: int, since: int, query_id: str) -> ApiCall:
        """What the press showed: a message or edit, else the answer to the button."""
        calls = self.standin.calls[since:]
        for call in calls:
            if call.method in SHOWING and _chat(call) == chat_id:
                return call
        for call in calls:
            if (
                call.method == "answerCallbackQuery"
                and call.params["callback_query_id"] == query_id
            ):
                return call
        raise AssertionError(f"the bot did not answer the button: {calls}")

    async def deliver_pushes(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """One pass of the outbox sender: due pushes go to the stand-in, rendered as in serve."""
        client = create_bot(TOKEN, self.standin.base_url)
        renderer = PushRenderer(create_i18n("en"), "UTC")
        sender = OutboxSender(bot=client, sessions=sessions, render=renderer)
        try:
            return await sender.send_due()
        finally:
            await client.session.close()

    @staticmethod
    def button_data(message: dict[str, Any], label: str | Callable[[str], bool]) -> str:
        matches = label if callable(label) else (lambda text: label in text)
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for row in rows:
            for button in row:
                if matches(button["text"]):
                    return button["callback_data"]
        texts = [button["text"] for row in rows for button in row]
        raise AssertionError(f"no button {label!r} among {texts}")


def _chat(call: ApiCall) -> int | None:
    chat = call.params.get("chat_id")
    return int(chat) if chat is not None else None


async def run_bot(
    kit: BotUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> tuple[Bot, Dispatcher, asyncio.Task[None]]:
    """Start a bot process's worth of aiogram (client, dispatcher, polling task) for `kit`."""
    client = create_bot(TOKEN, kit.standin.base_url)
    dispatcher = create_dispatcher(sessions, create_i18n("en"))
    # Outermost, around aiogram's own error handling, so that an error's answer is in too.
    outer = dispatcher.update.outer_middleware
    inner = list(outer)
    for middleware in inner:
        outer.unregister(middleware)
    for middleware in (kit.track, *inner):
        outer.register(middleware)
    polling = asyncio.create_task(
        dispatcher.start_polling(
            client, handle_signals=False, close_bot_session=False, polling_timeout=1
        )
    )
    return client, dispatcher, polling


async def stop_bot(client: Bot, dispatcher: Dispatcher, polling: asyncio.Task[None]) -> None:
    await dispatcher.stop_polling()
    await polling
    await client.session.close()


@pytest.fixture
async def bot(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[BotUnderTest]:
    async with BotApiStandin(token=TOKEN) as standin:
        kit = BotUnderTest(standin)
        running = await run_bot(kit, sessions)
        try:
            yield kit
        finally:
            await stop_bot(*running)
