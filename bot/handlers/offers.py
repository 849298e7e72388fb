"""Taking leads: the Claim button (offers, group races, the pool), /pool and /shift."""

from aiogram import Bot, F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import Claim
from bot.texts import quote, source_label
from bot.views import lead_card
from core import offers, users
from core.models import Team, User, utcnow


def router() -> Router:
    offers_router = Router(name="offers")
    # Strangers fall through to the access router's polite refusal (a group's Claim button
    # is there for anyone in the group to tap).
    offers_router.message.filter(MagicData(F.member.is_not(None)))
    offers_router.callback_query.filter(MagicData(F.member.is_not(None)))
    offers_router.callback_query.register(claim, Claim.filter(), F.message)
    offers_router.message.register(show_pool, Command("pool"))
    offers_router.message.register(toggle_shift, Command("shift"))
    return offers_router


async def claim(
    query: CallbackQuery,
    callback_data: Claim,
    bot: Bot,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """First tap wins; the offer message then says who took the lead."""
    lead = await offers.claim(session, actor=member, lead_id=callback_data.lead_id, now=utcnow())
    message = query.message
    if callback_data.post and isinstance(message, Message) and message.text is not None:
        taken = _("✅ Taken by {name}").format(name=quote(member.display_name))
        await message.edit_text(message.html_text + "\n\n" + taken, reply_markup=None)
    card = await lead_card(session, member, team, lead.id or 0)
    await bot.send_message(member.telegram_id, card.text, reply_markup=card.reply_markup)
    await query.answer(_("The lead is yours."))


async def show_pool(message: Message, session: AsyncSession, member: User) -> None:
    leads = await offers.pool(session, actor=member)
    if not leads:
        await message.answer(_("The pool is empty."))
        return
    now = utcnow()
    lines = [_("🗂 The team's pool, newest first:")]
    keyboard = InlineKeyboardBuilder()
    for lead in leads:
        lines.append(
            _("#{id} {name} · {source} · {age}").format(
                id=lead.id,
                name=quote(lead.name),
                source=quote(source_label(lead.source)),
                age=formatting.relative(lead.created_at, now),
            )
        )
        keyboard.button(
            text=_("✋ #{id} {name}").format(id=lead.id, name=lead.name[:30]),
            callback_data=Claim(lead_id=lead.id or 0),
        )
    keyboard.adjust(1)
    await message.answer("\n".join(lines), reply_markup=keyboard.as_markup())


async def toggle_shift(message: Message, session: AsyncSession, member: User) -> None:
    """A rep on shift is offered new leads; off shift, they are skipped."""
    updated = await users.update_user(
        session, telegram_id=member.telegram_id, on_shift=not member.on_shift, actor=member
    )
    if updated.on_shift:
        await message.answer(_("🟢 You are on shift: new leads will be offered to you."))
    else:
        await message.answer(_("⚪ You are off shift: no new leads until you are back."))
