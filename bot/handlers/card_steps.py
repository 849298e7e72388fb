"""The lead card's typed answers: tags, a new value, files, why it goes to the pool or is lost.

A card button starts a step (steps.begin); the next message answers it. A message that does not
fit gets a hint and the same step again.
"""

import re
from collections.abc import Awaitable, Callable

from aiogram import F, Router
from aiogram.filters import MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import try_again
from bot.handlers.steps import CardStep, answers_step
from bot.views import lead_card
from core import lead_edits, lifecycle
from core.errors import DomainError, InvalidInput
from core.models import Team, User, utcnow


def router() -> Router:
    """Answers to the card's questions (the ways out are in bot.handlers.steps)."""
    answers = Router(name="card_steps")
    answers.message.filter(MagicData(F.member.is_not(None)), StateFilter(CardStep), answers_step)
    answers.message.register(save_tags, CardStep.tags, F.text)
    answers.message.register(save_value, CardStep.value, F.text)
    answers.message.register(save_file, CardStep.file, F.photo | F.document)
    answers.message.register(release, CardStep.release, F.text)
    answers.message.register(mark_lost, CardStep.lost, F.text)
    answers.message.register(hint)
    return answers


#: Refusals about the lead rather than the value typed: another try would not help.
SETTLED = frozenset({"not_open", "already_closed", "not_lost", "field_unknown"})

Change = Callable[[int, dict[str, str]], Awaitable[object]]


async def _answer(
    message: Message,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
    change: Change,
    *,
    note: str,
    stay: bool = False,
) -> None:
    """Make the change; then the card again, or a hint and the same step when the value is wrong."""
    data = await state.get_data()
    lead_id = int(data.get("lead_id", 0))
    try:
        await change(lead_id, data)
    except InvalidInput as error:
        if error.code in SETTLED:
            await state.clear()
            raise
        await message.answer(try_again(error))
        return
    except DomainError:
        await state.clear()
        raise
    if not stay:
        await state.clear()
    card = await lead_card(session, member, team, lead_id)
    await message.answer(f"{note}\n\n{card.text}", reply_markup=card.reply_markup)


async def save_tags(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    names = [word for word in re.split(r"[\s,]+", message.text or "") if word]

    async def change(lead_id: int, _data: dict[str, str]) -> object:
        return await lead_edits.add_tags(session, actor=member, lead_id=lead_id, names=names)

    await _answer(message, session, member, team, state, change, note=_("🏷 Tags saved."))


async def save_value(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    async def change(lead_id: int, data: dict[str, str]) -> object:
        return await lead_edits.edit_field(
            session,
            actor=member,
            lead_id=lead_id,
            field=data.get("field", ""),
            value=message.text or "",
        )

    await _answer(message, session, member, team, state, change, note=_("✏️ Saved."))


async def save_file(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    """A photo (its largest size) or a document, kept as Telegram's file ids; more may follow."""
    if message.photo:
        kind, file, name = "photo", message.photo[-1], None
    else:
        assert message.document is not None  # guaranteed by the filter
        kind, file, name = "document", message.document, message.document.file_name

    async def change(lead_id: int, _data: dict[str, str]) -> object:
        return await lead_edits.attach_file(
            session,
            actor=member,
            lead_id=lead_id,
            kind=kind,
            file_id=file.file_id,
            file_unique_id=file.file_unique_id,
            file_name=name,
            caption=message.caption,
            now=utcnow(),
        )

    note = _("📎 Saved. Send more photos or documents, or /cancel when done.")
    await _answer(message, session, member, team, state, change, note=note, stay=True)


async def release(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    async def change(lead_id: int, _data: dict[str, str]) -> object:
        return await lifecycle.release(
            session, actor=member, lead_id=lead_id, reason=message.text or "", now=utcnow()
        )

    await _answer(message, session, member, team, state, change, note=_("↩️ Back in the pool."))


async def mark_lost(
    message: Message, session: AsyncSession, member: User, team: Team | None, state: FSMContext
) -> None:
    async def change(lead_id: int, _data: dict[str, str]) -> object:
        return await lifecycle.mark_lost(
            session, actor=member, lead_id=lead_id, reason=message.text or "", now=utcnow()
        )

    await _answer(message, session, member, team, state, change, note=_("✖️ Marked lost."))


async def hint(message: Message, state: FSMContext) -> None:
    """Whatever does not fit the step: what it expects, and the way out."""
    step = await state.get_state()
    hints = {
        CardStep.tags.state: _("Send tags as text, e.g. #vip referral."),
        CardStep.value.state: _("Send the new value as text."),
        CardStep.file.state: _("Send a photo or a document."),
        CardStep.release.state: _("Write why the lead goes back to the pool."),
        CardStep.lost.state: _("Write why the lead is lost."),
        CardStep.channel.state: _("Tap one of the buttons above."),
        CardStep.intent.state: _("Tap one of the buttons above."),
        CardStep.summary.state: _("Write what came of it as text."),
        CardStep.next_step.state: _("Write the next step as text."),
        CardStep.task.state: _("Write the task as text."),
        CardStep.due.state: _("Tap a time above, or write a date such as 05.12 15:30."),
    }
    text = hints.get(step or "", "")
    await message.answer(_("{hint} Or /cancel.").format(hint=text))
