"""Card buttons that ask for a typed answer: tags, a field's value, files, the reason to release.

Each first asks core whether the person may change the lead, so that a refusal comes before
the question; the answers are taken by card_steps.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import LeadAction
from bot.handlers import steps
from bot.handlers.steps import CardStep
from bot.rendering import Rendered
from bot.texts import field_label, quote
from bot.views import edit_or_send, refresh_card
from core import lead_edits, tags
from core.models import Lead, Team, User


def with_back(text: str, lead_id: int, keyboard: InlineKeyboardBuilder | None = None) -> Rendered:
    """A question shown in place of the card: its choices two a row, and a way back."""
    keyboard = keyboard or InlineKeyboardBuilder()
    keyboard.adjust(2)
    back = LeadAction(action="back", lead_id=lead_id).pack()
    keyboard.row(InlineKeyboardButton(text=_("◀ Back"), callback_data=back))
    return Rendered(text, keyboard.as_markup())


async def show(query: CallbackQuery, rendered: Rendered) -> None:
    await edit_or_send(query, rendered)
    await query.answer()


async def tag(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    """Ask for tags to add; the lead's tags are buttons that remove them."""
    lead_id = callback_data.lead_id
    lead, _team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    current = await tags.of_lead_by_id(session, lead_id)
    keyboard = InlineKeyboardBuilder()
    for tag_id, name in current.items():
        data = LeadAction(action="untag", lead_id=lead_id, arg=str(tag_id))
        keyboard.button(text=f"✖️ #{name}", callback_data=data)
    await steps.begin(state, CardStep.tags, lead_id)
    text = _("Send tags for <b>{name}</b>, e.g. <code>#vip referral</code>, or /cancel.").format(
        name=quote(lead.name)
    )
    if current:
        text += "\n" + _("Tap a tag to remove it.")
    await show(query, with_back(text, lead_id, keyboard))


async def untag(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    lead_id = callback_data.lead_id
    await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    current = await tags.of_lead_by_id(session, lead_id)
    name = current.get(int(callback_data.arg)) if callback_data.arg.isdigit() else None
    if name is not None:
        await lead_edits.remove_tag(session, actor=member, lead_id=lead_id, name=name)
    if await steps.in_card_step(state):
        await state.clear()
    await refresh_card(query, session, member, team, lead_id)
    await query.answer(_("Removed #{tag}.").format(tag=name) if name else None)


async def edit(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    """Without a field: the fields to pick from; with one: its value now, and a request."""
    lead_id, field = callback_data.lead_id, callback_data.arg
    lead, lead_team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    fields = lead_edits.editable_fields(lead_team)
    name = quote(lead.name)
    if field not in fields:
        keyboard = InlineKeyboardBuilder()
        for choice in fields:
            data = LeadAction(action="edit", lead_id=lead_id, arg=choice)
            keyboard.button(text=field_label(choice), callback_data=data)
        text = _("Which field of <b>{name}</b> do you change?").format(name=name)
        await show(query, with_back(text, lead_id, keyboard))
        return
    await steps.begin(state, CardStep.value, lead_id, field=field)
    text = _("<b>{field}</b> of {name} now: {value}\nSend the new value, or /cancel.").format(
        field=field_label(field), name=name, value=shown_value(lead, lead_team, field)
    )
    await show(query, with_back(text, lead_id))


def shown_value(lead: Lead, team: Team, field: str) -> str:
    """A field's value as the card shows it, escaped; a dash when empty."""
    if field == "phone":
        value: Any = lead.phone_e164
    elif field == "budget" and lead.budget is not None:
        value = formatting.money(lead.budget, lead.budget_currency or team.currency)
    elif field in lead_edits.BASIC_FIELDS:
        value = getattr(lead, field)
    else:
        value = lead.profile.get(field)
    return "—" if value in (None, "") else quote(str(value))


async def ask_typed(
    query: CallbackQuery,
    lead_id: int,
    session: AsyncSession,
    member: User,
    state: FSMContext,
    step: State,
    question: str,
) -> None:
    """Check the person may change the lead, then ask `question` (about `{name}`) in place."""
    lead, _team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    await steps.begin(state, step, lead_id)
    await show(query, with_back(question.format(name=quote(lead.name)), lead_id))


async def attach(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    question = _(
        "Send a photo or a document for <b>{name}</b>: site photos, IDs, floor plans. "
        "/cancel to stop."
    )
    await ask_typed(query, callback_data.lead_id, session, member, state, CardStep.file, question)


async def release(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    question = _("Why does <b>{name}</b> go back to the pool? Write the reason, or /cancel.")
    lead_id = callback_data.lead_id
    await ask_typed(query, lead_id, session, member, state, CardStep.release, question)


#: The card actions handled here, by LeadAction.action.
PRESSES: dict[str, Callable[..., Awaitable[None]]] = {
    "tag": tag,
    "untag": untag,
    "edit": edit,
    "attach": attach,
    "release": release,
}
