"""Showing core's answers to a person: lead cards as new messages or in place."""

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cards import render_card
from bot.rendering import Rendered
from core import leads
from core.followups import timezone_of
from core.models import Team, User, utcnow


async def lead_card(
    session: AsyncSession, member: User, team: Team | None, lead_id: int
) -> Rendered:
    card = await leads.card(session, actor=member, lead_id=lead_id)
    return render_card(card, now=utcnow(), zone=timezone_of(member, team))


async def send_card(
    message: Message, session: AsyncSession, member: User, team: Team | None, lead_id: int
) -> None:
    rendered = await lead_card(session, member, team, lead_id)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def refresh_card(
    query: CallbackQuery, session: AsyncSession, member: User, team: Team | None, lead_id: int
) -> None:
    """Redraw the card the button was pressed on (or send it anew if it cannot be edited)."""
    rendered = await lead_card(session, member, team, lead_id)
    await edit_or_send(query, rendered)


async def edit_or_send(query: CallbackQuery, rendered: Rendered) -> None:
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_text(rendered.text, reply_markup=rendered.reply_markup)
            return
        except TelegramBadRequest as error:
            if "message is not modified" in str(error):
                return
        await message.answer(rendered.text, reply_markup=rendered.reply_markup)
