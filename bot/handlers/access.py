"""Strangers get no data: whatever they send, they hear how to get access and nothing else."""

from aiogram import F, Router
from aiogram.filters import MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.handlers.start import refuse


def router() -> Router:
    """Catches whatever strangers send; registered last, after every other router."""
    access_router = Router(name="access")
    stranger = MagicData(F.member.is_(None))
    access_router.message.register(refuse_message, stranger)
    access_router.callback_query.register(refuse_callback, stranger)
    return access_router


async def refuse_message(message: Message) -> None:
    await refuse(message)


async def refuse_callback(query: CallbackQuery) -> None:
    await query.answer(_("This bot serves members of a sales team only."), show_alert=True)
