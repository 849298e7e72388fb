"""The Bot API stand-in, driven by a real aiogram Bot over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from leadloop.standin import (
    BotApiStandin,
    callback_query,
    command_message,
    contact_message,
    photo_message,
    text_message,
    tiny_png,
)

TOKEN = "123456789:TEST-stand-in-token"
USER = 424242


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    server = BotApiStandin(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


def make_bot(standin: BotApiStandin, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url))
    return Bot(token, session=session)


@pytest.fixture
async def bot(standin: BotApiStandin) -> AsyncIterator[Bot]:
    client = make_bot(standin)
    yield client
    await client.session.close()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=text, callback_data=data) for text, data in pairs]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


class Receiver:
    """A tiny webhook endpoint on 127.0.0.1 that records what it gets."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: asyncio.Queue[tuple[dict[str, str], dict[str, Any]]] = asyncio.Queue()
        self.fail_first = fail_first
        self.attempts = 0
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.Response(status=500)
        await self.received.put((dict(request.headers), await request.json()))
        return web.json_response({})

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        7000000001,
        True,
        "leadloop_bot",
        "LeadLoop",
    )


async def test_wrong_token_is_unauthorized(standin: BotApiStandin) -> None:
    intruder = make_bot(standin, token="1:wrong")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert standin.calls == []


async def test_send_message_with_inline_keyboard_is_recorded(
    standin: BotApiStandin, bot: Bot
) -> None:
    sent = await bot.send_message(USER, "New lead: ACME", reply_markup=keyboard(("Open", "lead:1")))

    assert sent.message_id == 1
    assert sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == 7000000001
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "lead:1"
    (call,) = standin.calls_of("sendMessage")
    assert call.params["chat_id"] == USER
    assert call.params["text"] == "New lead: ACME"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Open", "callback_data": "lead:1"}]]
    }
    assert call.response["ok"] is True
    assert call.at.tzinfo is not None


async def test_html_is_parsed_and_escaping_respected(bot: Bot) -> None:
    text = f"<b>Deal</b> {html.escape('<ACME> & Sons')}"
    sent = await bot.send_message(USER, text, parse_mode="HTML")
    assert sent.text == "Deal <ACME> & Sons"
    assert sent.entities is not None
    assert (sent.entities[0].type, sent.entities[0].offset, sent.entities[0].length) == (
        "bold",
        0,
        4,
    )

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "<b>x", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "1 < 2", parse_mode="HTML")


async def test_text_limits(bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "<b></b>", parse_mode="HTML")


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot) -> None:
    await bot.send_message(USER, "ok", reply_markup=keyboard(("A", "x" * 64)))
    # 33 Cyrillic letters are 33 characters but 66 bytes.
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "too long", reply_markup=keyboard(("A", "ж" * 33)))


async def test_edit_and_not_modified(standin: BotApiStandin, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Status: new", reply_markup=keyboard(("Won", "won")))
    edited = await bot.edit_message_text(
        "Status: won",
        chat_id=USER,
        message_id=sent.message_id,
        reply_markup=keyboard(("Undo", "u")),
    )
    assert isinstance(edited, Message)
    assert edited.text == "Status: won"
    assert edited.edit_date is not None

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Status: won",
            chat_id=USER,
            message_id=sent.message_id,
            reply_markup=keyboard(("Undo", "u")),
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)

    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
    (shown,) = standin.chat_messages(USER)
    assert "reply_markup" not in shown


async def test_fail_next_429_raises_retry_after(standin: BotApiStandin, bot: Bot) -> None:
    standin.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "hello")
    assert caught.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in str(caught.value)
    assert (await bot.send_message(USER, "hello")).text == "hello"

    standin.fail_next("sendMessage", status=429, retry_after=3, chat_id=USER + 1)
    await bot.send_message(USER, "other chat is unaffected")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER + 1, "hello")


async def test_blocked_chat_is_forbidden(standin: BotApiStandin, bot: Bot) -> None:
    standin.block_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello")
    await bot.send_message(USER + 1, "still fine")
    call = standin.calls_of("sendMessage")[0]
    assert call.response["error_code"] == 403


async def test_send_photo_get_file_and_download(standin: BotApiStandin, bot: Bot) -> None:
    png = tiny_png(4, 3)
    sent = await bot.send_photo(
        USER, BufferedInputFile(png, filename="lead.png"), caption="<i>site</i>", parse_mode="HTML"
    )
    assert sent.photo is not None
    assert (sent.photo[-1].width, sent.photo[-1].height) == (4, 3)
    assert sent.caption == "site"
    call = standin.calls_of("sendPhoto")[0]
    assert call.params["photo"].startswith("attach://")
    assert list(call.files.values()) == [("lead.png", png)]

    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await bot.download(file)
    assert downloaded is not None and downloaded.read() == png
    assert standin.file_bytes(sent.photo[-1].file_id) == png

    again = await bot.send_photo(USER + 1, sent.photo[-1].file_id)
    assert again.photo is not None
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", filename="x.png"))


async def test_send_document(bot: Bot) -> None:
    sent = await bot.send_document(USER, BufferedInputFile(b"%PDF-1.4 quote", filename="q.pdf"))
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.mime_type) == ("q.pdf", "application/pdf")
    assert await bot.download(sent.document.file_id) is not None


async def test_long_poll_returns_update_added_while_polling(
    standin: BotApiStandin, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)  # let the request reach the server and start waiting
    added = standin.add_update(text_message(USER, "hello"))

    (update,) = await asyncio.wait_for(poll, 3)
    assert loop.time() - started < 3
    assert update.update_id == added["update_id"]
    assert update.message is not None and update.message.text == "hello"
    # Confirming with offset forgets the update.
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []


async def test_webhook_delivery_with_secret_then_get_updates_conflicts(
    standin: BotApiStandin, bot: Bot
) -> None:
    receiver = Receiver(fail_first=1)
    url = await receiver.start()
    try:
        assert await bot.set_webhook(url, secret_token="s3cr3t-token")
        added = standin.add_update(text_message(USER, "via webhook"))

        headers, body = await asyncio.wait_for(receiver.received.get(), 5)
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t-token"
        assert body == added
        assert receiver.attempts == 2  # the 500 answer was retried
        assert standin.webhook is not None and standin.webhook["url"] == url

        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
    finally:
        await receiver.runner.cleanup()


async def test_chat_messages_show_both_sides_with_edits(standin: BotApiStandin, bot: Bot) -> None:
    standin.add_update(command_message(USER, "start"))
    standin.add_update(contact_message(USER, "+79001234567"))
    sent = await bot.send_message(USER, "Pick a stage", reply_markup=keyboard(("Won", "won")))
    press = standin.add_update(callback_query(USER, sent.model_dump(mode="json"), "won"))
    query_id = press["callback_query"]["id"]
    await bot.answer_callback_query(query_id, text="Saved")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    await bot.edit_message_text("Stage: won", chat_id=USER, message_id=sent.message_id)

    shown = standin.chat_messages(USER)
    assert [m["message_id"] for m in shown] == [1, 2, 3]
    assert shown[0]["text"] == "/start" and shown[0]["from"]["id"] == USER
    assert shown[1]["contact"]["phone_number"] == "+79001234567"
    assert shown[2]["text"] == "Stage: won" and "reply_markup" not in shown[2]
    assert standin.callback_answers[query_id]["text"] == "Saved"


async def test_user_photo_reaches_bot(standin: BotApiStandin, bot: Bot) -> None:
    photo = standin.upload_user_file(tiny_png(1200, 900))
    standin.add_update(photo_message(USER, photo, caption="storefront"))
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.photo is not None
    assert [size.width for size in update.message.photo] == [90, 320, 800, 1200]
    assert (await bot.download(update.message.photo[-1].file_id)) is not None


async def test_commands_keyed_by_scope_and_language(standin: BotApiStandin, bot: Bot) -> None:
    commands = [BotCommand(command="leads", description="Open leads")]
    await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert standin.commands == {
        ('{"type":"all_private_chats"}', "ru"): [{"command": "leads", "description": "Open leads"}]
    }
    got = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert [(c.command, c.description) for c in got] == [("leads", "Open leads")]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


async def test_dispatcher_polling_end_to_end(standin: BotApiStandin, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome to LeadLoop")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        standin.add_update(command_message(USER, "start"))
        call = await standin.wait_for_call("sendMessage")
        assert call.params["text"] == "Welcome to LeadLoop"
    finally:
        await dp.stop_polling()
        await polling


async def test_webhook_reply_method_is_executed(standin: BotApiStandin, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(F.text == "ping")
    async def ping(message: Message) -> SendMessage:
        return message.answer("pong")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="tok").register(
        app, path="/hook"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        await bot.set_webhook(f"http://{host}:{port}/hook", secret_token="tok")
        standin.add_update(text_message(USER, "ping"))
        call = await standin.wait_for_call("sendMessage")
        assert call.params["text"] == "pong" and call.ok
    finally:
        await runner.cleanup()
