"""/today: the rep's agenda — overdue tasks, today's tasks, leads waiting for their claim.

Each task has a ✅ button that marks it done and a button to its lead's card; each offered lead
a ✋ Claim button. Marking a task done redraws the agenda in place.
"""

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting, menu
from bot.callbacks import Claim, LeadAction, TaskAction
from bot.rendering import Rendered, append_fitting, markup
from bot.texts import quote
from bot.views import edit_or_send
from core import followups
from core.models import Lead, Task, Team, User, utcnow

#: Items per section that get buttons: the keyboard stays short enough to use.
BUTTON_ROWS = 15
#: Characters of a title or a name on a button, and in a line of the agenda.
BUTTON_CHARS = 24
LINE_CHARS = 80


def router() -> Router:
    today_router = Router(name="today")
    today_router.message.filter(MagicData(F.member.is_not(None)))
    today_router.callback_query.filter(MagicData(F.member.is_not(None)))
    today_router.message.register(show_today, Command("today"))
    today_router.message.register(show_today, F.text == menu.TODAY)
    today_router.callback_query.register(mark_done, TaskAction.filter(F.action == "done"))
    return today_router


async def show_today(
    message: Message, session: AsyncSession, member: User, team: Team | None
) -> None:
    rendered = await _agenda(session, member, team)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def mark_done(
    query: CallbackQuery,
    callback_data: TaskAction,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    task = await followups.complete_task(
        session, actor=member, task_id=callback_data.task_id, now=utcnow()
    )
    title = task.title
    await edit_or_send(query, await _agenda(session, member, team))
    await query.answer(_("✅ Done: {title}").format(title=title[:150]))


async def _agenda(session: AsyncSession, member: User, team: Team | None) -> Rendered:
    """The agenda as one message: its lines within Telegram's limit, a button row per item."""
    now = utcnow()
    zone = followups.timezone_of(member, team)
    agenda = await followups.agenda(session, actor=member, now=now, zone=zone)
    lines = [_("📅 <b>Today</b>, {date}").format(date=formatting.day(now, zone))]
    if not (agenda.overdue or agenda.today or agenda.offered):
        lines.append(_("Nothing due today. /leads shows all your leads."))
    keyboard = InlineKeyboardBuilder()
    sections = ((_("⚠️ <b>Overdue</b>"), agenda.overdue), (_("🕘 <b>Later today</b>"), agenda.today))
    for title, tasks in sections:
        if tasks:
            lines += ["", title]
            shown = append_fitting(lines, [_task_line(task, lead, now) for task, lead in tasks])
            for task, lead in tasks[: min(shown, BUTTON_ROWS)]:
                _task_buttons(keyboard, task, lead)
    if agenda.offered:
        lines += ["", _("✋ <b>Waiting for your claim</b>")]
        shown = append_fitting(lines, [_offer_line(lead, now) for lead in agenda.offered])
        for lead in agenda.offered[: min(shown, BUTTON_ROWS)]:
            label = _("✋ Claim {name}").format(name=lead.name[:BUTTON_CHARS])
            keyboard.button(text=label, callback_data=Claim(lead_id=lead.id or 0))
    keyboard.adjust(2)
    return Rendered("\n".join(lines), markup(keyboard))


def _task_line(task: Task, lead: Lead, now: datetime) -> str:
    return _("• {title} — {name} (#{id}), {when}").format(
        title=quote(task.title[:LINE_CHARS]),
        name=quote(lead.name[:LINE_CHARS]),
        id=lead.id,
        when=formatting.relative(task.due_at, now),
    )


def _offer_line(lead: Lead, now: datetime) -> str:
    name = quote(lead.name[:LINE_CHARS])
    if lead.claim_deadline is None:
        return _("• {name} (#{id})").format(name=name, id=lead.id)
    return _("• {name} (#{id}): claim it {when}").format(
        name=name, id=lead.id, when=formatting.relative(lead.claim_deadline, now)
    )


def _task_buttons(keyboard: InlineKeyboardBuilder, task: Task, lead: Lead) -> None:
    """✅ marks the task done; 📇 opens its lead's card."""
    done = TaskAction(action="done", task_id=task.id or 0)
    keyboard.button(text="✅ " + task.title[:BUTTON_CHARS], callback_data=done)
    opened = LeadAction(action="open", lead_id=lead.id or 0)
    keyboard.button(text="📇 " + lead.name[:BUTTON_CHARS], callback_data=opened)
