"""/lang: the language a member reads the bot in, whatever their Telegram app says."""

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Language
from bot.commands import register_user_commands
from bot.menu import main_menu
from core import users
from core.models import Team, User

#: Each language named in itself, so that anyone finds their own.
LANGUAGES = {"en": "English", "ru": "Русский", "zh_Hans": "简体中文"}


def router() -> Router:
    language_router = Router(name="language")
    language_router.message.filter(MagicData(F.member.is_not(None)))
    language_router.callback_query.filter(MagicData(F.member.is_not(None)))
    language_router.message.register(pick_language, Command("lang"))
    language_router.callback_query.register(set_language, Language.filter())
    return language_router


async def pick_language(message: Message) -> None:
    keyboard = InlineKeyboardBuilder()
    for locale, name in LANGUAGES.items():
        keyboard.button(text=name, callback_data=Language(locale=locale))
    keyboard.adjust(3)
    await message.answer(_("Choose your language:"), reply_markup=keyboard.as_markup())


async def set_language(
    query: CallbackQuery,
    callback_data: Language,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """Answer in the new language at once, with the menu and the command list in it too."""
    updated = await users.set_locale(session, user=member, locale=callback_data.locale)
    await query.answer()
    if isinstance(query.message, Message):
        # The picker has served; the confirmation below replaces it.
        with contextlib.suppress(TelegramBadRequest):
            await query.message.delete()
    with i18n.use_locale(callback_data.locale):
        await bot.send_message(
            updated.telegram_id,
            _("Done: I will speak {language} with you.").format(
                language=LANGUAGES[callback_data.locale]
            ),
            reply_markup=main_menu(updated),
        )
    await register_user_commands(bot, i18n, updated, team)
