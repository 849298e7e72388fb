"""/leads: the leads a person works, most urgent first, a page at a time, with filters."""

from dataclasses import dataclass
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import LeadAction, ListFilter, ListPage
from bot.menu import MY_LEADS
from bot.rendering import Rendered
from bot.texts import quote, stage_label
from bot.views import edit_or_send
from core import leads, tags
from core.leads import LeadFilter, Page
from core.models import Lead, Role, Team, User, utcnow
from core.pipelines import preset

PAGE_SIZE = 8
GRADES = ("A", "B", "C")
IDLE_DAYS = (7, 14, 30)
#: The roles that enter leads themselves.
ENTERING = (Role.REP, Role.MANAGER)
#: Tags offered in the picker at most (Telegram shows about 100 buttons).
TAG_BUTTONS = 40
#: Characters of a name shown on a lead's button.
BUTTON_NAME = 40


@dataclass(frozen=True)
class Choices:
    """What the filters may be for this person: their team's stages and tags (by id)."""

    stages: tuple[str, ...]
    tags: dict[int, str]


def router() -> Router:
    leads_router = Router(name="leads")
    leads_router.message.filter(MagicData(F.member.is_not(None)))
    leads_router.callback_query.filter(MagicData(F.member.is_not(None)))
    leads_router.message.register(show_leads, Command("leads"))
    leads_router.message.register(show_leads, F.text == MY_LEADS)
    leads_router.callback_query.register(turn_page, ListPage.filter())
    leads_router.callback_query.register(pick_filter, ListFilter.filter())
    return leads_router


async def show_leads(
    message: Message, session: AsyncSession, member: User, team: Team | None
) -> None:
    rendered = await leads_list(session, member, team, ListPage())
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def turn_page(
    query: CallbackQuery,
    callback_data: ListPage,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """A page, a filter chosen or cleared: the list is redrawn in place."""
    await edit_or_send(query, await leads_list(session, member, team, callback_data))
    await query.answer()


async def pick_filter(
    query: CallbackQuery, callback_data: ListFilter, session: AsyncSession, team: Team | None
) -> None:
    choices = await _choices(session, team)
    view = _checked(ListPage(**callback_data.model_dump(exclude={"kind"})), choices)
    await edit_or_send(query, filter_picker(callback_data.kind, view, choices))
    await query.answer()


async def _choices(session: AsyncSession, team: Team | None) -> Choices:
    if team is None or team.id is None:
        return Choices(preset("generic").stages, {})
    return Choices(preset(team.preset).stages, await tags.of_team_by_id(session, team.id))


def _checked(view: ListPage, choices: Choices) -> ListPage:
    """The filters of a (possibly forged) button, each dropped unless it is a real choice."""
    tag_ok = view.tag.isdigit() and int(view.tag) in choices.tags
    return ListPage(
        page=max(view.page, 0),
        stage=view.stage if view.stage in choices.stages else "",
        tag=view.tag if tag_ok else "",
        grade=view.grade if view.grade in GRADES else "",
        idle=view.idle if view.idle in IDLE_DAYS else 0,
        lost=view.lost,
    )


def _changed(view: ListPage, **changes: object) -> ListPage:
    """The same filters with some changed, from the first page."""
    return view.model_copy(update={"page": 0, **changes})


async def leads_list(
    session: AsyncSession, member: User, team: Team | None, view: ListPage
) -> Rendered:
    choices = await _choices(session, team)
    view = _checked(view, choices)
    now = utcnow()
    filters = LeadFilter(
        stage=view.stage or None,
        tag=choices.tags[int(view.tag)] if view.tag else None,
        grade=view.grade or None,
        idle_days=view.idle or None,
        lost=view.lost,
    )
    page = await leads.worklist(
        session, actor=member, filters=filters, page=view.page, page_size=PAGE_SIZE, now=now
    )
    view = view.model_copy(update={"page": page.page})
    text = "\n".join(_header(member, view, choices, page) + _lines(page, now))
    return Rendered(text, _list_keyboard(view, choices, page, now).as_markup())


def _header(member: User, view: ListPage, choices: Choices, page: Page) -> list[str]:
    if view.lost:
        title = _("🗃 <b>Lost leads</b>")
    elif member.role == Role.REP:
        title = _("📋 <b>Your leads</b>")
    else:
        title = _("📋 <b>Leads</b>")
    count = _("{n} lead", "{n} leads", page.total).format(n=page.total)
    lines = [f"{title}: {count}"]
    applied = _applied(view, choices)
    if applied:
        lines.append(_("Filters: {filters}").format(filters=" · ".join(applied)))
    elif not view.lost:
        lines.append(_("Open leads, most urgent first."))
    if page.pages > 1:
        lines.append(_("Page {page} of {pages}").format(page=page.page + 1, pages=page.pages))
    if page.total == 0 and (applied or view.lost or member.role not in ENTERING):
        lines.append(_("No leads match."))
    elif page.total == 0:
        lines.append(_("No open leads yet. /new adds one."))
    return lines


def _applied(view: ListPage, choices: Choices) -> list[str]:
    """The filters in words, as the header shows them."""
    applied = []
    if view.stage:
        applied.append(_("stage {stage}").format(stage=stage_label(view.stage)))
    if view.tag:
        applied.append(f"#{quote(choices.tags[int(view.tag)])}")
    if view.grade:
        applied.append(_("grade {grade}").format(grade=view.grade))
    if view.idle:
        applied.append(_("no touch for {n}+ days").format(n=view.idle))
    return applied


def _lines(page: Page, now: datetime) -> list[str]:
    lines = [""] if page.leads else []
    for number, lead in enumerate(page.leads, start=page.page * PAGE_SIZE + 1):
        parts = [f"<b>{quote(lead.name)}</b>", stage_label(lead.stage)]
        if lead.grade:
            parts.append(lead.grade)
        if lead.next_action_at is not None:
            when = formatting.relative(lead.next_action_at, now)
            parts.append(_("next: {when}").format(when=when))
        elif lead.lost_reason:
            parts.append(quote(lead.lost_reason[:60]))
        mark = "⚠️ " if _overdue(lead, now) else ""
        lines.append(f"{number}. {mark}" + " · ".join(parts))
    return lines


def _overdue(lead: Lead, now: datetime) -> bool:
    return lead.next_action_at is not None and lead.next_action_at < now


def short_name(name: str) -> str:
    """A name cut to fit a button."""
    return name if len(name) <= BUTTON_NAME else name[: BUTTON_NAME - 1] + "…"


def _lead_button(lead: Lead, now: datetime) -> InlineKeyboardButton:
    warning = " ⚠️" if _overdue(lead, now) else ""
    text = f"{short_name(lead.name)} · {stage_label(lead.stage)}{warning}"
    return InlineKeyboardButton(
        text=text, callback_data=LeadAction(action="open", lead_id=lead.id or 0).pack()
    )


def _list_keyboard(
    view: ListPage, choices: Choices, page: Page, now: datetime
) -> InlineKeyboardBuilder:
    keyboard = InlineKeyboardBuilder()
    for lead in page.leads:
        keyboard.row(_lead_button(lead, now))
    turns = []
    if page.page > 0:
        turns.append(_page_button(_("◀ Previous"), view.model_copy(update={"page": page.page - 1})))
    if page.page < page.pages - 1:
        turns.append(_page_button(_("Next ▶"), view.model_copy(update={"page": page.page + 1})))
    if turns:
        keyboard.row(*turns)
    keyboard.row(
        _picker_button(_("Stage"), "stage", view, view.stage and stage_label(view.stage)),
        _picker_button(_("Tag"), "tag", view, view.tag and "#" + choices.tags[int(view.tag)]),
        _picker_button(_("Grade"), "grade", view, view.grade),
    )
    idle = _("{n}+ days").format(n=view.idle) if view.idle else ""
    lost = (
        _page_button(_("📋 Open leads"), _changed(view, lost=False))
        if view.lost
        else (_page_button(_("🗃 Lost"), _changed(view, lost=True)))
    )
    keyboard.row(_picker_button(_("No touch"), "idle", view, idle), lost)
    if _applied(view, choices) or view.lost:
        keyboard.row(_page_button(_("✖️ Clear filters"), ListPage()))
    return keyboard


def _page_button(text: str, view: ListPage) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=view.pack())


def _picker_button(text: str, kind: str, view: ListPage, current: str) -> InlineKeyboardButton:
    """A filter's button, showing its value when set."""
    label = f"{text}: {current}" if current else text
    data = ListFilter(kind=kind, **view.model_dump(exclude={"page"}))
    return InlineKeyboardButton(text=label, callback_data=data.pack())


def filter_picker(kind: str, view: ListPage, choices: Choices) -> Rendered:
    """The values of one filter as buttons (the current one ticked), Any, and Back."""
    options: list[tuple[str, ListPage, bool]]
    if kind == "stage":
        text = _("Show leads at which stage?")
        options = [
            (stage_label(s), _changed(view, stage=s), s == view.stage) for s in choices.stages
        ]
        options.append((_("Any stage"), _changed(view, stage=""), not view.stage))
    elif kind == "tag":
        text = _("Show leads with which tag?") if choices.tags else _("Your team has no tags yet.")
        shown = list(choices.tags.items())[:TAG_BUTTONS]
        options = [
            (f"#{name}", _changed(view, tag=str(i)), str(i) == view.tag) for i, name in shown
        ]
        options.append((_("Any tag"), _changed(view, tag=""), not view.tag))
    elif kind == "grade":
        text = _("Show leads of which grade?")
        options = [(grade, _changed(view, grade=grade), grade == view.grade) for grade in GRADES]
        options.append((_("Any grade"), _changed(view, grade=""), not view.grade))
    else:
        text = _("Show leads nobody has touched for how long?")
        options = [
            (_("{n}+ days").format(n=days), _changed(view, idle=days), days == view.idle)
            for days in IDLE_DAYS
        ]
        options.append((_("Any time"), _changed(view, idle=0), not view.idle))
    keyboard = InlineKeyboardBuilder()
    for label, target, current in options:
        keyboard.button(text=("✓ " if current else "") + label, callback_data=target)
    keyboard.adjust(2)
    keyboard.row(_page_button(_("◀ Back"), view))
    return Rendered(text, keyboard.as_markup())
