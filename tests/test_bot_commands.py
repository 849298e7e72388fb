"""Telegram's command menu: rep commands for every private chat per language, own lists per role."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_bot
from bot.commands import DESCRIPTIONS, commands_of, needs_own_commands, register_all_commands
from bot.i18n import create_i18n
from core import users
from core.models import Role, Team, User
from leadloop.standin import BotApiStandin
from leadloop.standin.bot_settings import commands_key
from tests import factories
from tests.botkit import TOKEN

PRIVATE = {"type": "all_private_chats"}
REP_COMMANDS = ["new", "leads", "today", "find", "lead", "pool", "shift", "lang", "help", "cancel"]


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(token=TOKEN) as running:
        yield running


@pytest.fixture
async def client(standin: BotApiStandin) -> AsyncIterator[Bot]:
    bot = create_bot(TOKEN, standin.base_url)
    yield bot
    await bot.session.close()


def _chat(user: User) -> tuple[str, str]:
    return commands_key({"type": "chat", "chat_id": user.telegram_id}, None)


def _names(listed: list[dict[str, str]]) -> list[str]:
    return [command["command"] for command in listed]


async def test_start_registers_rep_commands_per_language_and_own_lists_per_role(
    standin: BotApiStandin,
    client: Bot,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    team = await factories.team(session, "Alpha")
    manager = await factories.user(session, team, role="manager")
    finance = await factories.user(session, team, role="finance")
    admin = await factories.user(session, None, role="admin")
    rep = await factories.user(session, team)
    russian_rep = await factories.user(session, team)
    await users.set_locale(session, user=russian_rep, locale="ru")
    leaver = await factories.user(session, team, role="manager")
    await users.deactivate(session, telegram_id=leaver.telegram_id, reassign_to=None, to_pool=True)

    await register_all_commands(client, create_i18n("en"), sessions)

    lists = standin.commands
    for code in ("en", "ru", "zh", ""):
        assert _names(lists[commands_key(PRIVATE, code)]) == REP_COMMANDS
    assert _names(lists[_chat(manager)])[-10:] == [
        "team",
        "invite",
        "reassign",
        "merge",
        "history",
        "settings",
        "shift",
        "lang",
        "help",
        "cancel",
    ]
    assert _names(lists[_chat(finance)]) == ["leads", "find", "lead", "lang", "help"]
    assert _names(lists[_chat(admin)]) == list(DESCRIPTIONS)
    assert _names(lists[_chat(russian_rep)]) == REP_COMMANDS
    assert _chat(rep) not in lists and _chat(leaver) not in lists
    described = [command["description"] for listed in lists.values() for command in listed]
    assert all(0 < len(text) <= 256 for text in described)
    assert lists[commands_key(PRIVATE, "en")][0]["description"] == "Enter a new lead"


async def test_a_refusal_is_logged_and_the_others_still_get_their_lists(
    standin: BotApiStandin,
    client: Bot,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    team = await factories.team(session, "Alpha")
    first = await factories.user(session, team, role="manager", name="A")
    second = await factories.user(session, team, role="manager", name="B")
    # The first default list and the first manager's list are refused.
    standin.fail_next(
        "setMyCommands", status=400, description="Bad Request: chat not found", count=2
    )
    await register_all_commands(client, create_i18n("en"), sessions)
    assert _chat(first) not in standin.commands
    assert _names(standin.commands[_chat(second)])[0] == "new"


@pytest.mark.parametrize(
    ("role", "chosen", "telegram", "team_locale", "own"),
    [
        (Role.REP, None, "en", "en", False),
        (Role.REP, None, "zh-hans", "en", False),
        (Role.REP, "ru", "ru", "en", False),
        (Role.REP, "ru", "en", "en", True),
        (Role.REP, None, "de", "ru", True),  # the default list would be English
        (Role.REP, None, None, "en", False),
        (Role.MANAGER, None, "en", "en", True),
        (Role.FINANCE, None, "en", "en", True),
    ],
)
def test_who_needs_a_list_of_their_own(
    role: Role, chosen: str | None, telegram: str | None, team_locale: str, own: bool
) -> None:
    user = User(telegram_id=1, display_name="x", role=role, locale=chosen, telegram_locale=telegram)
    team = Team(name="T", country="US", locale=team_locale)
    assert needs_own_commands(user, team, "en") is own


def test_every_role_has_help_and_lang() -> None:
    for role in Role:
        assert {"help", "lang"} <= set(commands_of(role))
