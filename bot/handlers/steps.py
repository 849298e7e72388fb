"""The typed steps of working a lead (card answers, /find's question), and the ways out of them.

Registered before the routers whose commands could interrupt a step: a command or a menu
button sent in the middle of a step ends the step, then does what it says; /cancel ends it.
"""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, MagicData, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot import menu


class CardStep(StatesGroup):
    """A card button asked for: tags, a field's value, files, why to release, why lost; and the
    steps of a follow-up (channel, summary, intent, next step, its due time) or a task."""

    tags = State()
    value = State()
    file = State()
    release = State()
    lost = State()
    channel = State()
    summary = State()
    intent = State()
    next_step = State()
    task = State()
    due = State()


class FindStep(StatesGroup):
    """The 🔎 Find button asked what to look for."""

    text = State()


def router() -> Router:
    steps_router = Router(name="steps")
    steps_router.message.filter(MagicData(F.member.is_not(None)), StateFilter(CardStep, FindStep))
    steps_router.message.register(cancel, Command("cancel"))
    steps_router.message.register(leave, F.text.func(menu.moves_on))
    return steps_router


def answers_step(message: Message) -> bool:
    """Not a command or a menu button: an answer to the step asked."""
    return not menu.moves_on(message.text)


async def in_card_step(state: FSMContext) -> bool:
    return (await state.get_state()) in CardStep


async def begin(state: FSMContext, step: State, lead_id: int, field: str = "") -> None:
    await state.set_state(step)
    await state.set_data({"lead_id": lead_id, "field": field})


async def leave(message: Message, state: FSMContext) -> None:
    """End the step and let the command (or menu button) do what it says."""
    await state.clear()
    raise SkipHandler


async def cancel(message: Message, state: FSMContext) -> None:
    step = await state.get_state()
    await state.clear()
    if step == CardStep.file.state:
        await message.answer(_("Done: the files you sent are kept."))
    elif step == FindStep.text.state:
        await message.answer(_("Cancelled."))
    else:
        await message.answer(_("Cancelled. Nothing was changed."))
