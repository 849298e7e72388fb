"""Strangers get no data: whatever they send, they hear how to get access and nothing else."""

from aiogram import F, Router
from aiogram.filters import MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.handlers.start import refuse

router = Router(name="access")
router.message.filter(MagicData(F.member.is_(None)))
router.callback_query.filter(MagicData(F.member.is_(None)))


@router.message()
async def refuse_message(message: Message) -> None:
    await refuse(message)


@router.callback_query()
async def refuse_callback(query: CallbackQuery) -> None:
    await query.answer(_("This bot serves members of a sales team only."), show_alert=True)
