"""/history 42: a lead's audit trail for its managers, newest first, a page at a time."""

from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import HistoryPage
from bot.handlers.team import lead_ids
from bot.rendering import TEXT_BUDGET, Rendered, markup
from bot.texts import channel_label, field_label, quote, stage_label
from bot.views import edit_or_send
from core import merge
from core.followups import timezone_of
from core.merge import HistoryLine
from core.models import Team, User

#: Entries fetched for one page; fewer are shown when their text would not fit.
PAGE = 20
#: Longest value of an edited field shown; the rest is cut.
VALUE_CHARS = 60


def router() -> Router:
    history_router = Router(name="history")
    history_router.message.filter(MagicData(F.member.is_not(None)))
    history_router.callback_query.filter(MagicData(F.member.is_not(None)))
    history_router.message.register(show_history, Command("history"))
    history_router.callback_query.register(turn_page, HistoryPage.filter())
    return history_router


async def show_history(
    message: Message, command: CommandObject, session: AsyncSession, member: User, team: Team | None
) -> None:
    ids = lead_ids(command.args)
    if len(ids) != 1:
        await message.answer(_("Which lead? Write its number: /history 42"))
        return
    page = await history_page(session, member, team, ids[0], offset=0)
    await message.answer(page.text, reply_markup=page.reply_markup)


async def turn_page(
    query: CallbackQuery,
    callback_data: HistoryPage,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    page = await history_page(
        session, member, team, callback_data.lead_id, offset=callback_data.offset
    )
    await edit_or_send(query, page)
    await query.answer()


async def history_page(
    session: AsyncSession, member: User, team: Team | None, lead_id: int, *, offset: int
) -> Rendered:
    """Entries from `offset` on, as many as fit one message, with a button to older ones."""
    entries = await merge.lead_history(
        session, actor=member, lead_id=lead_id, limit=PAGE + 1, offset=offset
    )
    zone = timezone_of(member, team)
    lines = [_("🕘 <b>History of lead #{id}</b>, newest first:").format(id=lead_id)]
    shown = 0
    for entry in entries[:PAGE]:
        line = history_line(entry, zone)
        if sum(len(text) + 1 for text in lines) + len(line) > TEXT_BUDGET:
            break
        lines.append(line)
        shown += 1
    if not entries:
        lines.append(_("Nothing recorded yet."))
    keyboard = InlineKeyboardBuilder()
    if offset > 0:
        newer = HistoryPage(lead_id=lead_id, offset=max(0, offset - PAGE))
        keyboard.button(text=_("◀ Newer"), callback_data=newer)
    if len(entries) > shown:
        older = HistoryPage(lead_id=lead_id, offset=offset + shown)
        keyboard.button(text=_("Older ▶"), callback_data=older)
    return Rendered("\n".join(lines), markup(keyboard))


def history_line(line: HistoryLine, zone: ZoneInfo) -> str:
    """`12/1/26, 10:00 AM · Anna · stage First contact → Intent`."""
    entry = line.entry
    who = quote(line.actor_name) if line.actor_name else _("system")
    what = describe(entry.action, entry.before or {}, entry.after or {}, line.owners)
    return f"{formatting.moment(entry.at, zone)} · {who} · {what}"


def describe(
    action: str, before: dict[str, Any], after: dict[str, Any], owners: tuple[str | None, ...]
) -> str:
    """What an audit entry did, in words; people's text escaped."""
    if action == "stage":
        return _("stage {old} → {new}").format(
            old=stage_label(str(before.get("stage"))), new=stage_label(str(after.get("stage")))
        )
    if action == "edit":
        field = next(iter(after or before), "")
        return _("{field}: {old} → {new}").format(
            field=quote(field_label(field)),
            old=_value(before.get(field)),
            new=_value(after.get(field)),
        )
    if action in ("tag", "untag"):
        names = " ".join(f"#{quote(str(tag))}" for tag in (after or before).get("tags", []))
        text = _("tagged {tags}") if action == "tag" else _("removed the tag {tags}")
        return text.format(tags=names)
    if action in ("release", "lost"):
        text = (
            _("released to the pool: {reason}")
            if action == "release"
            else _("marked lost: {reason}")
        )
        return text.format(reason=_value(after.get("reason")))
    if action in ("reassign", "reopen", "stale_return"):
        return _owner_change(action, owners)
    if action == "merge":
        dropped = before.get("drop") or {}
        return _("merged lead #{id} {name} into this one").format(
            id=dropped.get("id"), name=quote(str(dropped.get("name") or ""))
        )
    if action == "followup":
        return _("logged a follow-up: {channel}").format(
            channel=channel_label(str(after.get("channel")))
        )
    return _simple(action)


def _owner_change(action: str, owners: tuple[str | None, ...]) -> str:
    old, new = (quote(name) if name else "—" for name in owners)
    if action == "reassign":
        return _("reassigned {old} → {new}").format(old=old, new=new)
    if action == "reopen":
        return _("reopened; owner {new}").format(new=new)
    return _("returned to the pool from {old}: no touch for too long").format(old=old)


def _simple(action: str) -> str:
    labels = {
        "create": _("created the lead"),
        "duplicate_attempt": _("tried to enter this customer again (duplicate)"),
        "claim": _("claimed the lead"),
        "offer_expired": _("the offer expired unclaimed"),
    }
    return labels.get(action, quote(action))


def _value(value: object) -> str:
    if value is None or value == "":
        return "—"
    text = str(value)
    return quote(text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…")
