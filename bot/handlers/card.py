"""The lead card's buttons and /lead 42: open, move stage, call, files, lose, reopen.

Every press names the lead by id and goes through core, which refuses a lead the person may not
see ("Not found.") or change ("You may not change this lead.") — forged buttons included. The
buttons that ask for typed answers live in card_edits; the answers themselves in card_steps.
"""

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import LeadAction
from bot.handlers import card_edits, card_steps, followup, steps
from bot.handlers.card_edits import show, with_back
from bot.handlers.steps import CardStep
from bot.handlers.team import lead_ids
from bot.texts import quote, stage_label
from bot.views import lead_card, refresh_card, send_card
from core import lead_edits, leads, lifecycle
from core.models import Attachment, Team, User, utcnow
from core.pipelines import preset

#: Files sent back at one press; a button brings the next ones.
FILES_AT_ONCE = 10
#: Characters of a file's caption shown when it is sent back (Telegram allows 1024).
CAPTION_CHARS = 1000


def router() -> Router:
    card_router = Router(name="card")
    card_router.include_router(followup.router())
    card_router.include_router(card_steps.router())
    buttons = Router(name="card_buttons")
    buttons.message.filter(MagicData(F.member.is_not(None)))
    buttons.callback_query.filter(MagicData(F.member.is_not(None)))
    buttons.message.register(open_by_number, Command("lead"))
    presses = {
        "open": open_card,
        "back": back_to_card,
        "stage": stage,
        "call": call,
        "files": files,
        "lost": lost,
        "reopen": reopen,
        **card_edits.PRESSES,
        **followup.PRESSES,
    }
    for action, handler in presses.items():
        buttons.callback_query.register(handler, LeadAction.filter(F.action == action))
    card_router.include_router(buttons)
    return card_router


async def open_by_number(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    ids = lead_ids(command.args)
    if len(ids) != 1:
        await message.answer(_("Which lead? Write its number: /lead 42"))
        return
    await send_card(message, session, member, team, ids[0])


async def open_card(
    query: CallbackQuery,
    callback_data: LeadAction,
    bot: Bot,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """From a list or a search: the card as a new message; the list stays."""
    card = await lead_card(session, member, team, callback_data.lead_id)
    await bot.send_message(member.telegram_id, card.text, reply_markup=card.reply_markup)
    await query.answer()


async def back_to_card(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    if await steps.in_card_step(state):
        await state.clear()
    await refresh_card(query, session, member, team, callback_data.lead_id)
    await query.answer()


async def stage(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """Without a stage: the pipeline to pick from; with one: the move, and the card again."""
    lead_id = callback_data.lead_id
    if callback_data.arg:
        lead = await lead_edits.move_stage(
            session, actor=member, lead_id=lead_id, stage=callback_data.arg, now=utcnow()
        )
        await refresh_card(query, session, member, team, lead_id)
        await query.answer(_("Stage: {stage}").format(stage=stage_label(lead.stage)))
        return
    lead, lead_team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    keyboard = InlineKeyboardBuilder()
    for name in preset(lead_team.preset).stages:
        mark = "✓ " if name == lead.stage else ""
        data = LeadAction(action="stage", lead_id=lead_id, arg=name)
        keyboard.button(text=mark + stage_label(name), callback_data=data)
    text = _("Move <b>{name}</b> to which stage?").format(name=quote(lead.name))
    await show(query, with_back(text, lead_id, keyboard))


async def call(
    query: CallbackQuery, callback_data: LeadAction, bot: Bot, session: AsyncSession, member: User
) -> None:
    """The bare number as a message of its own, which Telegram makes tappable; the card stays."""
    phone = await leads.phone_to_call(session, actor=member, lead_id=callback_data.lead_id)
    if phone is None:
        await query.answer(_("There is no number to call on this lead."), show_alert=True)
        return
    await bot.send_message(member.telegram_id, phone)
    await query.answer()


async def files(
    query: CallbackQuery, callback_data: LeadAction, bot: Bot, session: AsyncSession, member: User
) -> None:
    """The lead's photos and documents sent back by their file ids, a batch at a time."""
    kept = await lead_edits.attachments(session, actor=member, lead_id=callback_data.lead_id)
    start = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    batch = kept[start : start + FILES_AT_ONCE]
    if not batch:
        await query.answer(_("No files on this lead."), show_alert=True)
        return
    failed = 0
    for attachment in batch:
        failed += not await _send_file(bot, member.telegram_id, attachment)
    rest = len(kept) - start - len(batch)
    if rest > 0:
        following = str(start + len(batch))
        more = LeadAction(action="files", lead_id=callback_data.lead_id, arg=following)
        keyboard = InlineKeyboardBuilder()
        keyboard.button(text=_("Show more"), callback_data=more)
        text = _("{n} more file", "{n} more files", rest).format(n=rest)
        await bot.send_message(member.telegram_id, text, reply_markup=keyboard.as_markup())
    if failed:
        text = _("{n} file could not be sent.", "{n} files could not be sent.", failed)
        await query.answer(text.format(n=failed), show_alert=True)
        return
    await query.answer()


async def _send_file(bot: Bot, chat_id: int, attachment: Attachment) -> bool:
    """Send one kept file by its id; False when Telegram no longer knows it."""
    caption = quote((attachment.caption or attachment.file_name or "")[:CAPTION_CHARS]) or None
    try:
        if attachment.kind == "photo":
            await bot.send_photo(chat_id, attachment.file_id, caption=caption)
        else:
            await bot.send_document(chat_id, attachment.file_id, caption=caption)
    except TelegramBadRequest:
        return False
    return True


def lost_reasons() -> dict[str, str]:
    """Quick reasons, in the words stored as the lead's lost reason."""
    return {
        "price": _("Price"),
        "competitor": _("Chose a competitor"),
        "unreachable": _("Not reachable"),
        "not_needed": _("No longer needed"),
    }


async def lost(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
    state: FSMContext,
) -> None:
    """The reasons to pick from; a quick one closes the lead, "other" asks for a typed one."""
    lead_id, reason = callback_data.lead_id, callback_data.arg
    reasons = lost_reasons()
    if reason in reasons:
        await lifecycle.mark_lost(
            session, actor=member, lead_id=lead_id, reason=reasons[reason], now=utcnow()
        )
        await refresh_card(query, session, member, team, lead_id)
        await query.answer(_("Marked lost."))
        return
    lead, _team = await lead_edits.for_change(session, actor=member, lead_id=lead_id)
    name = quote(lead.name)
    if reason == "other":
        await steps.begin(state, CardStep.lost, lead_id)
        text = _("Write why <b>{name}</b> is lost, or /cancel.").format(name=name)
        await show(query, with_back(text, lead_id))
        return
    keyboard = InlineKeyboardBuilder()
    for code, label in {**reasons, "other": _("Other…")}.items():
        keyboard.button(
            text=label, callback_data=LeadAction(action="lost", lead_id=lead_id, arg=code)
        )
    text = _("Why is <b>{name}</b> lost?").format(name=name)
    await show(query, with_back(text, lead_id, keyboard))


async def reopen(
    query: CallbackQuery,
    callback_data: LeadAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    await lifecycle.reopen(session, actor=member, lead_id=callback_data.lead_id, now=utcnow())
    await refresh_card(query, session, member, team, callback_data.lead_id)
    await query.answer(_("Reopened."))
