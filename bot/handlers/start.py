"""/start: greet a member, bind an invited account, turn strangers away politely."""

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import register_user_commands
from bot.menu import main_menu
from bot.texts import quote, role_label
from core import users
from core.errors import Conflict, NotFound
from core.models import Team, User, utcnow


def router() -> Router:
    start_router = Router(name="start")
    start_router.message.register(accept_invite, CommandStart(deep_link=True), F.from_user)
    start_router.message.register(start, CommandStart())
    return start_router


def greeting(member: User, team: Team | None) -> str:
    name = f"<b>{quote(member.display_name)}</b>"
    if team is None:
        return _("Hello, {name}! You are signed in to LeadLoop as {role}.").format(
            name=name, role=role_label(member.role)
        )
    return _("Hello, {name}! You are signed in to LeadLoop as {role} of {team}.").format(
        name=name, role=role_label(member.role), team=quote(team.name)
    )


async def accept_invite(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: User | None,
) -> None:
    """`/start <token>` from an invitation link binds the account that opened it."""
    if member is not None:
        await message.answer(
            greeting(member, await _team_of(session, member)), reply_markup=main_menu(member)
        )
        return
    assert message.from_user is not None  # guaranteed by the F.from_user filter
    try:
        joined = await users.accept_invite(
            session,
            token=command.args or "",
            telegram_id=message.from_user.id,
            display_name=message.from_user.full_name,
            now=utcnow(),
            telegram_locale=message.from_user.language_code,
        )
    except (NotFound, Conflict):
        await message.answer(
            _("This invitation link is unknown, used or expired. Ask your manager for a new one.")
        )
        return
    team = await _team_of(session, joined)
    await message.answer(greeting(joined, team), reply_markup=main_menu(joined))
    await register_user_commands(bot, i18n, joined, team)


async def start(message: Message, member: User | None, team: Team | None) -> None:
    if member is None:
        await refuse(message)
        return
    await message.answer(greeting(member, team), reply_markup=main_menu(member))


async def refuse(message: Message) -> None:
    """What a stranger hears, whatever they send: nothing but how to get access."""
    await message.answer(
        _(
            "Sorry, this bot serves members of a sales team only. "
            "Ask your manager for an invitation link."
        )
    )


async def _team_of(session: AsyncSession, member: User) -> Team | None:
    return await session.get(Team, member.team_id) if member.team_id is not None else None
