"""/lang switches a member's language for good; /help lists the commands of their role."""

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import User
from leadloop.standin.bot_settings import commands_key
from tests import factories
from tests.botkit import BotUnderTest, button_texts, buttons, text_of


async def test_lang_switches_the_language_of_later_replies_and_remembers_it(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    anna_id, chat = anna.id, anna.telegram_id
    picker = await bot.say(chat, "/lang")
    assert button_texts(picker) == ["English", "Русский", "简体中文"]

    since = bot.mark()
    confirmed = await bot.press(chat, picker, "Русский")
    assert confirmed.method == "sendMessage"
    assert buttons(confirmed), "the main menu comes with the confirmation"
    assert confirmed.params["reply_markup"]["is_persistent"] is True
    locale = (await session.exec(select(User.locale).where(User.id == anna_id))).one()
    assert locale == "ru"
    # Telegram still says English: only the choice makes later replies Russian.
    greeting = await bot.say(chat, "/start", language_code="en")
    assert text_of(greeting).startswith("Здравствуйте, Anna!")

    # The rep reads another language than the default lists give: a list of their own.
    await bot.standin.wait_for_call("setMyCommands", since=since)
    scope = commands_key({"type": "chat", "chat_id": chat}, None)
    assert [c["command"] for c in bot.standin.commands[scope]][:2] == ["new", "leads"]

    since = bot.mark()
    back = await bot.say(chat, "/lang")
    await bot.press(chat, back, "English")
    assert text_of(await bot.say(chat, "/start")).startswith("Hello, Anna!")
    await bot.standin.wait_for_call("deleteMyCommands", since=since)
    assert scope not in bot.standin.commands


async def test_a_forged_language_is_refused(bot: BotUnderTest, session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    picker = await bot.say(anna.telegram_id, "/lang")
    refused = await bot.press_data(anna.telegram_id, picker.result, "lang:de")
    assert refused.params["text"] == "That language is not available."


def _help_commands(text: str) -> list[str]:
    return [line.split(" ")[0] for line in text.splitlines() if line.startswith("/")]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rep", "/new /leads /today /find /lead /pool /shift /lang /help /cancel"),
        (
            "manager",
            "/new /leads /today /find /lead /pool /team /invite /reassign /merge /history "
            "/settings /shift /lang /help /cancel",
        ),
        ("finance", "/leads /find /lead /lang /help"),
    ],
)
async def test_help_lists_the_commands_of_the_role(
    bot: BotUnderTest, session: AsyncSession, role: str, expected: str
) -> None:
    team = await factories.team(session, "Alpha")
    member = await factories.user(session, team, role=role)
    reply = await bot.say(member.telegram_id, "/help")
    text = text_of(reply)
    assert text.startswith("What I can do\n/")
    assert _help_commands(text) == expected.split()
    if role == "manager":
        assert "/merge — Merge two records of one customer, e.g. /merge 42 57" in text
    from_menu = await bot.say(member.telegram_id, "❓ Help")
    assert text_of(from_menu) == text


async def test_an_admin_gets_every_command_and_a_stranger_none(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    admin = await factories.user(session, None, role="admin")
    text = text_of(await bot.say(admin.telegram_id, "/help"))
    assert len(_help_commands(text)) == 16
    stranger = await bot.say(9_999, "/help")
    assert text_of(stranger).startswith("Sorry, this bot serves members of a sales team only.")
    for command in ("/team", "/settings", "/lang", "/merge 1 2"):
        refused = await bot.say(9_999, command)
        assert text_of(refused).startswith("Sorry, this bot serves members")
