"""Logging a follow-up and scheduling a task from the lead card, mostly by buttons.

Follow-up: channel → a short summary → intent → the next step → when (in 1 h, tomorrow at the
start of the working day, in 3 days, a day picked from the next two weeks, or typed). A task:
its title → when.
The answers so far are the conversation's state in the database; nothing is written to the
lead before the last answer, and core checks the rep's right to the lead at every press.
"""

from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel.dates import format_date, format_time
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import LeadAction
from bot.errors import try_again
from bot.handlers import steps
from bot.handlers.card_edits import ask_typed, show, with_back
from bot.handlers.steps import CardStep, answers_step
from bot.rendering import Rendered
from bot.texts import channel_label, intent_label, quote
from bot.views import lead_card
from core import followups, lead_edits
from core.errors import InvalidInput
from core.followups import CHANNELS, INTENTS, QUICK_DUES, WORKDAY_START
from core.models import Team, User, utcnow

#: Days offered by "pick a date", from tomorrow on.
PICKABLE_DAYS = 14


def router() -> Router:
    """The typed answers of a follow-up or task (its buttons are card presses: PRESSES)."""
    answers = Router(name="followup")
    answers.message.filter(MagicData(F.member.is_not(None)), answers_step)
    answers.message.register(take_summary, CardStep.summary, F.text)
    answers.message.register(take_next_step, StateFilter(CardStep.next_step, CardStep.task), F.text)
    answers.message.register(take_typed_due, CardStep.due, F.text)
    return answers


async def start_followup(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    lead_id = callback_data.lead_id
    lead, _team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    await steps.begin(state, CardStep.channel, lead_id)
    keyboard = InlineKeyboardBuilder()
    for channel in CHANNELS:
        data = LeadAction(action="fu_channel", lead_id=lead_id, arg=channel)
        keyboard.button(text=channel_label(channel), callback_data=data)
    text = _("📝 Follow-up with <b>{name}</b>: how did you talk?").format(name=quote(lead.name))
    await show(query, with_back(text, lead_id, keyboard))


async def pick_channel(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    """A channel begins the follow-up anew, so a stale channel button still works."""
    lead_id, channel = callback_data.lead_id, callback_data.arg
    lead, _team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    if channel not in CHANNELS:
        await query.answer(_("Pick one of the buttons."), show_alert=True)
        return
    await steps.begin(state, CardStep.summary, lead_id)
    await state.update_data(channel=channel)
    skip = LeadAction(action="fu_summary", lead_id=lead_id)
    keyboard = InlineKeyboardBuilder()
    keyboard.button(text=_("Skip"), callback_data=skip)
    text = _("{channel} with <b>{name}</b>. What came of it? A line or two, please.").format(
        channel=channel_label(channel), name=quote(lead.name)
    )
    await show(query, with_back(text, lead_id, keyboard))


async def skip_summary(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    if not await _at_step(query, session, member, state, callback_data.lead_id, CardStep.summary):
        return
    await _ask_intent(state, callback_data.lead_id, summary="")
    await show(query, _intent_question(callback_data.lead_id))


async def take_summary(message: Message, state: FSMContext) -> None:
    lead_id = int((await state.get_data()).get("lead_id", 0))
    await _ask_intent(state, lead_id, summary=message.text or "")
    rendered = _intent_question(lead_id)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def _ask_intent(state: FSMContext, lead_id: int, *, summary: str) -> None:
    await state.set_state(CardStep.intent)
    await state.update_data(summary=summary)


def _intent_question(lead_id: int) -> Rendered:
    keyboard = InlineKeyboardBuilder()
    for intent in INTENTS:
        data = LeadAction(action="fu_intent", lead_id=lead_id, arg=intent)
        keyboard.button(text=intent_label(intent), callback_data=data)
    return with_back(_("How keen is the customer now?"), lead_id, keyboard)


async def pick_intent(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    lead_id, intent = callback_data.lead_id, callback_data.arg
    if not await _at_step(query, session, member, state, lead_id, CardStep.intent):
        return
    if intent not in INTENTS:
        await query.answer(_("Pick one of the buttons."), show_alert=True)
        return
    await state.set_state(CardStep.next_step)
    await state.update_data(intent=intent)
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("✅ No next step"), callback_data=LeadAction(action="fu_done", lead_id=lead_id)
    )
    text = _("What is the next step? Write it, e.g. <i>send the estimate</i>.")
    await show(query, with_back(text, lead_id, keyboard))


async def start_task(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    question = _("⏰ What is to be done for <b>{name}</b>? Write it, e.g. <i>call back</i>.")
    lead_id = callback_data.lead_id
    await ask_typed(query, lead_id, session, member, state, CardStep.task, question)


async def take_next_step(message: Message, state: FSMContext) -> None:
    """The next step of a follow-up, or a task's title: then, when."""
    try:
        title = followups.task_title(message.text or "")
    except InvalidInput as error:
        await message.answer(try_again(error))
        return
    lead_id = int((await state.get_data()).get("lead_id", 0))
    await state.update_data(title=title, task=await state.get_state() == CardStep.task.state)
    await state.set_state(CardStep.due)
    rendered = _due_question(lead_id, title)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


def _due_question(lead_id: int, title: str) -> Rendered:
    keyboard = InlineKeyboardBuilder()
    labels = {
        "1h": _("In 1 hour"),
        "tomorrow": _("Tomorrow {time}").format(time=_workday_start()),
        "3d": _("In 3 days"),
    }
    for choice in QUICK_DUES:
        data = LeadAction(action="fu_due", lead_id=lead_id, arg=choice)
        keyboard.button(text=labels[choice], callback_data=data)
    pick = LeadAction(action="fu_pick", lead_id=lead_id)
    keyboard.button(text=_("📅 Pick a date"), callback_data=pick)
    text = _("When: <b>{title}</b>? Tap a time, or write a date such as 05.12 15:30.").format(
        title=quote(title)
    )
    return with_back(text, lead_id, keyboard)


async def pick_day(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    """The next two weeks as buttons; each lands at the start of that working day."""
    lead_id = callback_data.lead_id
    if not await _at_step(query, session, member, state, lead_id, CardStep.due):
        return
    zone = followups.timezone_of(member, team)
    tomorrow = utcnow().astimezone(zone).date() + timedelta(days=1)
    keyboard = InlineKeyboardBuilder()
    for offset in range(PICKABLE_DAYS):
        day = tomorrow + timedelta(days=offset)
        data = LeadAction(action="fu_due", lead_id=lead_id, arg=day.isoformat())
        label = format_date(day, "EEE d MMM", locale=formatting.locale())
        keyboard.button(text=label, callback_data=data)
    text = _("Which day? It is set for {time}; write a date and time for another hour.").format(
        time=_workday_start()
    )
    await show(query, with_back(text, lead_id, keyboard))


def _workday_start() -> str:
    """The hour a day picked without a time lands at, as the reader writes hours."""
    return format_time(WORKDAY_START, "short", locale=formatting.locale())


async def pick_due(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    lead_id = callback_data.lead_id
    if not await _at_step(query, session, member, state, lead_id, CardStep.due):
        return
    now = utcnow()
    due = followups.due_at(callback_data.arg, now=now, zone=followups.timezone_of(member, team))
    await show(query, await _save(session, member, team, state, due=due, now=now))


async def take_typed_due(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    now = utcnow()
    zone = followups.timezone_of(member, team)
    try:
        due = followups.due_at(message.text or "", now=now, zone=zone)
    except InvalidInput as error:
        await message.answer(try_again(error))
        return
    rendered = await _save(session, member, team, state, due=due, now=now)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def finish_without_next_step(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    lead_id = callback_data.lead_id
    if not await _at_step(query, session, member, state, lead_id, CardStep.next_step):
        return
    await show(query, await _save(session, member, team, state, due=None, now=utcnow()))


async def _at_step(
    query: CallbackQuery,
    session: AsyncSession,
    member: User,
    state: FSMContext,
    lead_id: int,
    step: State,
) -> bool:
    """A press belongs to the question being asked; an old message's buttons say so.

    Core is asked first, so that a forged button gets "Not found." like any other.
    """
    await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    data = await state.get_data()
    if await state.get_state() == step.state and int(data.get("lead_id", 0)) == lead_id:
        return True
    await query.answer(
        _("That question is closed. Open the card and start again."), show_alert=True
    )
    return False


async def _save(
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
    *,
    due: datetime | None,
    now: datetime,
) -> Rendered:
    """Write the follow-up or the task the answers describe; the card, with a note above."""
    data = await state.get_data()
    lead_id, title = int(data.get("lead_id", 0)), str(data.get("title", ""))
    await state.clear()
    if data.get("task") and due is not None:
        await followups.schedule_task(
            session, actor=member, lead_id=lead_id, title=title, due=due, now=now
        )
        note = _("⏰ Task set: {title}, {when}.")
    else:
        await followups.log_followup(
            session,
            actor=member,
            lead_id=lead_id,
            channel=str(data.get("channel", "")),
            summary=str(data.get("summary", "")),
            intent=data.get("intent"),
            next_step=title or None,
            due=due,
            now=now,
        )
        note = (
            _("✅ Follow-up logged. Next: {title}, {when}.") if due else _("✅ Follow-up logged.")
        )
    if due is not None:
        zone = followups.timezone_of(member, team)
        note = note.format(title=quote(title), when=formatting.moment(due, zone))
    card = await lead_card(session, member, team, lead_id)
    return Rendered(f"{note}\n\n{card.text}", card.reply_markup)


#: The card presses handled here, by LeadAction.action.
PRESSES = {
    "followup": start_followup,
    "fu_channel": pick_channel,
    "fu_summary": skip_summary,
    "fu_intent": pick_intent,
    "fu_done": finish_without_next_step,
    "task": start_task,
    "fu_pick": pick_day,
    "fu_due": pick_due,
}
