"""What a member hears when nothing else understood them: never silence."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _


def router() -> Router:
    """Registered last: catches members' messages and buttons no other handler took."""
    fallback_router = Router(name="fallback")
    fallback_router.message.register(not_understood)
    fallback_router.callback_query.register(expired_button)
    return fallback_router


async def not_understood(message: Message) -> None:
    await message.answer(_("I did not understand that. /help lists what I can do."))


async def expired_button(query: CallbackQuery) -> None:
    await query.answer(_("This button no longer works. Open the lead again."), show_alert=True)
