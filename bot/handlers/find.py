"""/find 912 345 or /find анна: leads by phone digits (any formatting) or a part of the name."""

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import LeadAction
from bot.handlers.leads import short_name
from bot.handlers.steps import FindStep, answers_step
from bot.menu import FIND
from bot.rendering import Rendered
from bot.texts import quote, stage_label, state_label
from core import leads
from core.models import LeadState, User

#: Results shown at most; more means the search should be narrower.
LIMIT = 20
#: Characters of the search text repeated in the answer.
ECHO_CHARS = 60


def router() -> Router:
    find_router = Router(name="find")
    find_router.message.filter(MagicData(F.member.is_not(None)))
    find_router.message.register(find_from_command, Command("find"))
    find_router.message.register(ask, F.text == FIND)
    find_router.message.register(find_typed, FindStep.text, F.text, answers_step)
    find_router.message.register(hint, FindStep.text, answers_step)
    return find_router


async def ask(message: Message, state: FSMContext) -> None:
    await state.set_state(FindStep.text)
    await message.answer(_("What do you look for? Send a phone number or a part of a name."))


async def find_from_command(
    message: Message, command: CommandObject, session: AsyncSession, member: User, state: FSMContext
) -> None:
    if not (command.args or "").strip():
        await ask(message, state)
        return
    rendered = await results(session, member, command.args or "")
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def find_typed(
    message: Message, session: AsyncSession, member: User, state: FSMContext
) -> None:
    await state.clear()
    rendered = await results(session, member, message.text or "")
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def hint(message: Message) -> None:
    await message.answer(_("Send a phone number or a part of a name as text, or /cancel."))


async def results(session: AsyncSession, member: User, text: str) -> Rendered:
    """The matches as buttons that open their cards; or that there are none."""
    found = await leads.find(session, actor=member, text=text.strip(), limit=LIMIT)
    echo = quote(text.strip()[:ECHO_CHARS])
    if not found:
        return Rendered(_("Nothing found for “{text}”.").format(text=echo))
    lines = [
        _("🔎 {n} lead found for “{text}”:", "🔎 {n} leads found for “{text}”:", len(found)).format(
            n=len(found), text=echo
        )
    ]
    if len(found) == LIMIT:
        lines.append(_("Showing the first {n}: type more to narrow the search.").format(n=LIMIT))
    keyboard = InlineKeyboardBuilder()
    for lead in found:
        owned = lead.state == LeadState.OWNED
        where = stage_label(lead.stage) if owned else state_label(lead.state)
        data = LeadAction(action="open", lead_id=lead.id or 0)
        keyboard.button(text=f"{short_name(lead.name)} · {where}", callback_data=data)
    keyboard.adjust(1)
    return Rendered("\n".join(lines), keyboard.as_markup())
