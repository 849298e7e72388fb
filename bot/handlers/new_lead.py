"""/new: entering a lead, guided step by step or in one line, or from a contact card.

The guided entry asks name → phone → source → the profile fields of the team's preset →
confirm. Its state and answers are rows in the database, so a half-entered lead survives a
restart and any instance can take the next step. Nothing is saved before Save.
"""

from decimal import Decimal
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import menu
from bot.callbacks import AskOwner, Choice
from bot.errors import explain
from bot.handlers import new_lead_quick as quick
from bot.handlers.new_lead_questions import (
    CANCEL,
    FLOW,
    SAVE,
    SKIP_FLOW,
    SOURCE_FLOW,
    SOURCES,
    ask_field,
    ask_name,
    ask_phone,
    ask_source,
    next_field,
    summary,
    with_hint,
)
from bot.handlers.steps import answers_step
from bot.rendering import Rendered
from bot.views import edit_or_send
from core import leads
from core.contacts import clean_name, clean_value, normalize_phone
from core.errors import InvalidInput
from core.leads import NewLead
from core.models import Team, User, utcnow
from core.money import parse_amount


class NewLeadFlow(StatesGroup):
    name = State()
    phone = State()
    source = State()
    profile = State()
    confirm = State()


def router() -> Router:
    new_router = Router(name="new_lead")
    # Private chats only: a card shown in a team group would show the customer to everyone.
    new_router.message.filter(MagicData(F.member.is_not(None)), F.chat.type == "private")
    new_router.callback_query.filter(MagicData(F.member.is_not(None)))
    message, callback = new_router.message, new_router.callback_query
    in_flow = StateFilter(NewLeadFlow)
    message.register(new_command, Command("new"))
    message.register(start_entry, F.text == menu.NEW_LEAD)
    message.register(cancel_by_command, in_flow, Command("cancel"))
    # A command or a menu button is no answer: no handler here takes it, so it is handled as
    # usual by the routers after this one, and the entry waits at its step.
    message.register(take_name, NewLeadFlow.name, F.text, answers_step)
    message.register(take_contact, StateFilter(NewLeadFlow.name, NewLeadFlow.phone), F.contact)
    message.register(take_phone, NewLeadFlow.phone, F.text, answers_step)
    message.register(take_field, NewLeadFlow.profile, F.text, answers_step)
    message.register(ask_again, in_flow, answers_step)
    message.register(quick.contact_card, StateFilter(None), F.contact)
    callback.register(pick_source, NewLeadFlow.source, Choice.filter(F.flow == SOURCE_FLOW))
    callback.register(skip_field, NewLeadFlow.profile, Choice.filter(F.flow == SKIP_FLOW))
    is_save = Choice.filter((F.flow == FLOW) & (F.value == SAVE))
    callback.register(save, NewLeadFlow.confirm, is_save)
    is_cancel = Choice.filter((F.flow == FLOW) & (F.value == CANCEL))
    callback.register(cancel_by_button, in_flow, is_cancel)
    callback.register(quick.ask_owner, AskOwner.filter())
    return new_router


def _entering_team(member: User, team: Team | None) -> Team:
    """The team the lead will belong to; refuses finance and members of no team."""
    leads.ensure_may_capture(member)
    assert team is not None  # a member with a team_id has their team loaded by the middleware
    return team


async def new_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """`/new` starts the guided entry; `/new <name> <phone> …` saves at once."""
    if not command.args:
        await start_entry(message, state, member, team)
        return
    await state.clear()
    await quick.quick_entry(message, command.args, session, member, team)


async def start_entry(message: Message, state: FSMContext, member: User, team: Team | None) -> None:
    _entering_team(member, team)
    await state.set_state(NewLeadFlow.name)
    await state.set_data({})
    await _show(message, ask_name())


async def take_name(message: Message, state: FSMContext) -> None:
    try:
        name = clean_name(message.text or "")
    except InvalidInput as error:
        await _show(message, with_hint(explain(error), ask_name()))
        return
    data = await state.update_data(name=name)
    await state.set_state(NewLeadFlow.phone)
    await _show(message, ask_phone(data))


async def take_phone(message: Message, state: FSMContext, member: User, team: Team | None) -> None:
    await _accept_phone(message, state, _entering_team(member, team), message.text or "")


async def take_contact(
    message: Message, state: FSMContext, member: User, team: Team | None
) -> None:
    """A contact card: the customer's phone (and, asked for the name, their name too)."""
    contact = message.contact
    assert contact is not None  # guaranteed by the F.contact filter
    entering = _entering_team(member, team)
    if quick.is_own_contact(message):
        await _show(message, with_hint(quick.own_number_hint(), await _question(state, entering)))
        return
    if await state.get_state() == NewLeadFlow.name.state:
        await state.update_data(name=quick.contact_name(contact))
    await _accept_phone(message, state, entering, quick.contact_phone(contact))


async def _accept_phone(message: Message, state: FSMContext, team: Team, raw: str) -> None:
    try:
        phone = normalize_phone(raw, team.country)
    except InvalidInput as error:
        await _show(message, with_hint(explain(error), await _question(state, team)))
        return
    data = await state.update_data(phone=phone.raw, e164=phone.e164)
    await state.set_state(NewLeadFlow.source)
    await _show(message, ask_source(data))


async def pick_source(
    query: CallbackQuery,
    callback_data: Choice,
    state: FSMContext,
    member: User,
    team: Team | None,
) -> None:
    if callback_data.value in SOURCES:
        await state.update_data(source=callback_data.value)
        await edit_or_send(query, await _advance(state, _entering_team(member, team), None))
    await query.answer()


async def take_field(message: Message, state: FSMContext, member: User, team: Team | None) -> None:
    """A profile field's answer: the budget must be an amount, the rest short text."""
    entering = _entering_team(member, team)
    data = await state.get_data()
    field = str(data.get("field", ""))
    try:
        answer = _profile_answer(data, field, clean_value(message.text or ""))
    except InvalidInput as error:
        await _show(message, with_hint(explain(error), ask_field(data, field)))
        return
    await state.update_data(answer)
    await _show(message, await _advance(state, entering, field))


def _profile_answer(data: dict[str, Any], field: str, text: str) -> dict[str, Any]:
    """What to keep of a profile answer; refuses what does not fit."""
    if field == "budget":
        return {"budget": str(parse_amount(text))}
    return {"profile": {**data.get("profile", {}), field: text}}


async def skip_field(
    query: CallbackQuery,
    callback_data: Choice,
    state: FSMContext,
    member: User,
    team: Team | None,
) -> None:
    field = (await state.get_data()).get("field")
    if callback_data.value != field:
        await query.answer(_("That question was answered already."))
        return
    await edit_or_send(query, await _advance(state, _entering_team(member, team), field))
    await query.answer()


async def _advance(state: FSMContext, team: Team, after: str | None) -> Rendered:
    """On to the next profile field, or to the summary when all are asked."""
    field = next_field(team, after)
    data = await state.update_data(field=field)
    if field is None:
        await state.set_state(NewLeadFlow.confirm)
        return summary(data, team)
    await state.set_state(NewLeadFlow.profile)
    return ask_field(data, field)


async def save(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    data = await state.get_data()
    entry = NewLead(
        name=str(data.get("name", "")),
        phone=data.get("phone"),
        source=str(data.get("source") or "manual"),
        budget=Decimal(data["budget"]) if data.get("budget") else None,
        profile=dict(data.get("profile") or {}),
    )
    result = await leads.capture(session, actor=member, entry=entry, now=utcnow())
    await state.clear()
    await quick.show_outcome_in_place(query, session, member, team, result)
    await query.answer()


async def cancel_by_command(message: Message, state: FSMContext, member: User) -> None:
    await state.clear()
    await message.answer(_("Cancelled. Nothing was saved."), reply_markup=menu.main_menu(member))


async def cancel_by_button(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await edit_or_send(query, Rendered(_("Cancelled. Nothing was saved.")))
    await query.answer()


async def ask_again(message: Message, state: FSMContext, member: User, team: Team | None) -> None:
    """Anything that does not fit the step: a hint and the same question again."""
    current = await state.get_state()
    buttons = current in (NewLeadFlow.source.state, NewLeadFlow.confirm.state)
    hint = _("Please tap one of the buttons.") if buttons else _("Please send it as text.")
    await _show(message, with_hint(hint, await _question(state, _entering_team(member, team))))


async def _question(state: FSMContext, team: Team) -> Rendered:
    """The question of the step the entry is at."""
    current = await state.get_state()
    data = await state.get_data()
    if current == NewLeadFlow.phone.state:
        return ask_phone(data)
    if current == NewLeadFlow.source.state:
        return ask_source(data)
    if current == NewLeadFlow.profile.state:
        return ask_field(data, str(data.get("field", "")))
    if current == NewLeadFlow.confirm.state:
        return summary(data, team)
    return ask_name()


async def _show(message: Message, rendered: Rendered) -> None:
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)
