"""Managers' commands: /team, /invite, /reassign and /merge. Core checks who may use them."""

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, MagicData
from aiogram.types import CallbackQuery, LinkPreviewOptions, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import formatting
from bot.callbacks import MergeLeads, Reassign
from bot.menu import TEAM
from bot.rendering import Rendered, append_fitting
from bot.texts import quote, role_label
from bot.views import edit_or_send, send_card
from core import lifecycle, merge, teams, users
from core.followups import timezone_of
from core.masking import contact_shown
from core.models import Lead, Role, Team, User, utcnow

#: The roles a manager may invite from the bot.
INVITABLE = (Role.REP, Role.MANAGER, Role.FINANCE)


def router() -> Router:
    team_router = Router(name="team")
    team_router.message.filter(MagicData(F.member.is_not(None)))
    team_router.callback_query.filter(MagicData(F.member.is_not(None)))
    team_router.message.register(show_team, Command("team"))
    team_router.message.register(show_team, F.text == TEAM)
    team_router.message.register(invite, Command("invite"))
    team_router.message.register(pick_heir, Command("reassign"))
    team_router.callback_query.register(reassign, Reassign.filter())
    team_router.message.register(confirm_merge, Command("merge"))
    team_router.callback_query.register(merge_or_cancel, MergeLeads.filter())
    return team_router


def lead_ids(args: str | None) -> list[int]:
    """The lead numbers written after a command: `42`, `#42 #57`; nothing if one is not a number."""
    words = (args or "").replace(",", " ").split()
    numbers = [word.removeprefix("#") for word in words]
    return [int(number) for number in numbers] if all(n.isdigit() for n in numbers) else []


async def show_team(message: Message, session: AsyncSession, member: User) -> None:
    """Who is on shift (🟢), off (⚪) or out of reach (🚫), their role and open leads."""
    people = await teams.roster(session, actor=member)
    lines = [_("👥 <b>Your team</b> (🟢 on shift, ⚪ off shift, 🚫 has blocked the bot):")]
    rows = [
        _("{shift} {name} · {role} · {count}").format(
            shift=_shift_mark(person),
            name=quote(person.display_name),
            role=role_label(person.role),
            count=_("{n} open lead", "{n} open leads", open_leads).format(n=open_leads),
        )
        for person, open_leads in people
    ]
    append_fitting(lines, rows)
    await message.answer("\n".join(lines))


def _shift_mark(person: User) -> str:
    """Someone who blocked the bot gets no offers, on shift or not."""
    if not person.reachable:
        return "🚫"
    return "🟢" if person.on_shift else "⚪"


async def invite(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    """A single-use deep link that makes whoever opens it a rep (manager, finance) of the team."""
    role = (command.args or Role.REP).strip().lower()
    if role not in INVITABLE:
        await message.answer(
            _("Whom do you invite? /invite rep, /invite manager or /invite finance")
        )
        return
    created = await users.create_invite(
        session, role=role, team_name=team.name if team else None, now=utcnow(), actor=member
    )
    me = await bot.me()
    link = f"https://t.me/{me.username}?start={created.token}"
    text = _(
        "Send this link to your new {role}. It works once and expires in 7 days ({date}):\n{link}"
    ).format(
        role=role_label(role),
        date=formatting.day(created.expires_at, timezone_of(member, team)),
        link=link,
    )
    await message.answer(text, link_preview_options=LinkPreviewOptions(is_disabled=True))


async def pick_heir(
    message: Message, command: CommandObject, session: AsyncSession, member: User
) -> None:
    """/reassign 42: the team's active reps as buttons."""
    ids = lead_ids(command.args)
    if len(ids) != 1:
        await message.answer(_("Which lead? Write its number: /reassign 42"))
        return
    lead, heirs = await lifecycle.reassign_choices(session, actor=member, lead_id=ids[0])
    if not heirs:
        await message.answer(_("There is no other active rep in your team to take it."))
        return
    keyboard = InlineKeyboardBuilder()
    for rep in heirs:
        keyboard.button(
            text=("🟢 " if rep.on_shift else "⚪ ") + rep.display_name[:40],
            callback_data=Reassign(lead_id=lead.id or 0, user_id=rep.id or 0),
        )
    keyboard.adjust(2)
    await message.answer(
        _("Hand <b>{name}</b> (#{id}) to:").format(name=quote(lead.name), id=lead.id),
        reply_markup=keyboard.as_markup(),
    )


async def reassign(
    query: CallbackQuery, callback_data: Reassign, session: AsyncSession, member: User
) -> None:
    lead = await lifecycle.reassign(
        session,
        actor=member,
        lead_id=callback_data.lead_id,
        to_user_id=callback_data.user_id,
        now=utcnow(),
    )
    heir = await session.get(User, lead.owner_id) if lead.owner_id else None
    text = _("✅ <b>{name}</b> (#{id}) is now {rep}'s lead; they have been told.").format(
        name=quote(lead.name), id=lead.id, rep=quote(heir.display_name if heir else "—")
    )
    await edit_or_send(query, Rendered(text))
    await query.answer()


async def confirm_merge(
    message: Message, command: CommandObject, session: AsyncSession, member: User
) -> None:
    """/merge 42 57: both records side by side, and the buttons to merge or not."""
    ids = lead_ids(command.args)
    if len(ids) != 2:
        await message.answer(
            _("Which leads? Write the one to keep, then the one to fold into it: /merge 42 57")
        )
        return
    keep, drop = await merge.preview(session, actor=member, keep_id=ids[0], drop_id=ids[1])
    text = "\n".join(
        (
            _("Merge these two records of one customer?"),
            _("Keep: {lead}").format(lead=_lead_line(keep)),
            _("Fold in: {lead}").format(lead=_lead_line(drop)),
            _(
                "Activities, tasks, stage history, files and tags of #{drop} move to #{keep}; "
                "#{drop} is then deleted."
            ).format(drop=drop.id, keep=keep.id),
        )
    )
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("✅ Merge"), callback_data=MergeLeads(keep_id=ids[0], drop_id=ids[1], ok=True)
    )
    keyboard.button(text=_("✖️ Cancel"), callback_data=MergeLeads(keep_id=ids[0], drop_id=ids[1]))
    await message.answer(text, reply_markup=keyboard.as_markup())


def _lead_line(lead: Lead) -> str:
    phone, email = contact_shown(lead)
    return f"<b>#{lead.id} {quote(lead.name)}</b> · {phone or quote(email) or '—'}"


async def merge_or_cancel(
    query: CallbackQuery,
    callback_data: MergeLeads,
    session: AsyncSession,
    member: User,
    team: Team | None,
) -> None:
    if not callback_data.ok:
        await edit_or_send(query, Rendered(_("Merge cancelled. Nothing was changed.")))
        await query.answer()
        return
    kept = await merge.merge(
        session,
        actor=member,
        keep_id=callback_data.keep_id,
        drop_id=callback_data.drop_id,
        now=utcnow(),
    )
    text = _("✅ Merged: #{drop} is now part of <b>{name}</b> (#{keep}).").format(
        drop=callback_data.drop_id, name=quote(kept.name), keep=kept.id
    )
    await edit_or_send(query, Rendered(text))
    await query.answer()
    if isinstance(query.message, Message):
        await send_card(query.message, session, member, team, kept.id or 0)
