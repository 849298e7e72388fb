"""The commands of each role, as /help lists them and Telegram's command menu shows them.

Telegram picks a chat's command list by scope and language: every private chat gets the rep
commands in the language its app reports (`register_default_commands`); a manager, finance,
admin, or a rep who reads another language than the default list would give them, gets a list
of their own in their chat's scope (`register_user_commands`).
"""

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import users
from core.languages import from_telegram, locale_of
from core.models import Role, Team, User

log = logging.getLogger(__name__)

#: Every command with what it does, in the order menus and /help show them.
DESCRIPTIONS: dict[str, LazyProxy] = {
    "new": __("Enter a new lead"),
    "leads": __("Your leads, most urgent first"),
    "today": __("Today's agenda: tasks and offers"),
    "find": __("Find a lead by phone or name"),
    "lead": __("Open a lead's card by its number"),
    "pool": __("The team's pool of unclaimed leads"),
    "team": __("Who is on shift and their open leads"),
    "invite": __("An invitation link for a new colleague"),
    "reassign": __("Hand a lead to another rep"),
    "merge": __("Merge two records of one customer"),
    "history": __("Who changed what on a lead"),
    "settings": __("The team's settings"),
    "shift": __("Go on or off shift"),
    "lang": __("Change the language"),
    "help": __("What I can do"),
    "cancel": __("Stop what you are entering"),
}

_REP = ("new", "leads", "today", "find", "lead", "pool", "shift", "lang", "help", "cancel")
_MANAGER_ONLY = ("team", "invite", "reassign", "merge", "history", "settings")

ROLE_COMMANDS: dict[Role, frozenset[str]] = {
    Role.REP: frozenset(_REP),
    Role.MANAGER: frozenset(_REP + _MANAGER_ONLY),
    Role.FINANCE: frozenset(("leads", "find", "lead", "lang", "help")),
    Role.ADMIN: frozenset(DESCRIPTIONS),
}

#: Telegram's language codes of the default lists, by catalog.
TELEGRAM_LANGUAGES = {"en": "en", "ru": "ru", "zh_Hans": "zh"}


def commands_of(role: str) -> list[str]:
    """The commands a role may use, in menu order."""
    allowed = ROLE_COMMANDS[Role(role)]
    return [command for command in DESCRIPTIONS if command in allowed]


def bot_commands(role: str) -> list[BotCommand]:
    """The role's command list in the current locale."""
    return [
        BotCommand(command=command, description=str(DESCRIPTIONS[command])[:256])
        for command in commands_of(role)
    ]


def _in_locale(i18n: I18n, locale: str, role: str) -> list[BotCommand]:
    with i18n.context(), i18n.use_locale(locale):
        return bot_commands(role)


async def register_default_commands(bot: Bot, i18n: I18n) -> None:
    """Every private chat: the rep commands, in each language and in the default language."""
    scope = BotCommandScopeAllPrivateChats()
    for locale, code in TELEGRAM_LANGUAGES.items():
        await bot.set_my_commands(_in_locale(i18n, locale, Role.REP), scope, code)
    await bot.set_my_commands(_in_locale(i18n, i18n.default_locale, Role.REP), scope)


def needs_own_commands(user: User, team: Team | None, default: str) -> bool:
    """Whether the default lists would show this user the wrong commands or language."""
    if user.role != Role.REP:
        return True
    default_list = from_telegram(user.telegram_locale) or default
    return locale_of(user, team, default) != default_list


async def register_user_commands(bot: Bot, i18n: I18n, user: User, team: Team | None) -> bool:
    """The user's own command list in their chat; False if Telegram refused it."""
    scope = BotCommandScopeChat(chat_id=user.telegram_id)
    try:
        if needs_own_commands(user, team, i18n.default_locale):
            locale = locale_of(user, team, i18n.default_locale)
            await bot.set_my_commands(_in_locale(i18n, locale, user.role), scope)
        elif user.locale is not None:
            # A rep back on the default list's language: an earlier list of their own would win.
            await bot.delete_my_commands(scope)
    except TelegramAPIError as error:
        log.warning("cannot set the commands of user %s: %s", user.id, error)
        return False
    return True


async def register_all_commands(
    bot: Bot, i18n: I18n, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """At start: the default lists, then a list of their own for everyone who needs one."""
    try:
        await register_default_commands(bot, i18n)
    except TelegramAPIError as error:
        log.warning("cannot set the default commands: %s", error)
    async with sessions() as session:
        people = await users.list_users(session)
    for user, team in people:
        if user.is_active and needs_own_commands(user, team, i18n.default_locale):
            await register_user_commands(bot, i18n, user, team)
