"""`leadloop user …`: add, invite, deactivate and list people."""

import asyncio
from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import users
from core.models import Invite, Team, User, utcnow
from core.settings import Settings
from leadloop.runtime import fail, run_in_session, say, settings_or_exit

app = typer.Typer(help="People: reps, managers, finance and admins.", no_args_is_help=True)

Role = Annotated[str, typer.Option(help="rep, manager, finance or admin.")]
TeamName = Annotated[str | None, typer.Option("--team", help="The team's name.")]


@app.command()
def add(
    telegram_id: Annotated[int, typer.Option(help="The person's Telegram user id.")],
    role: Role,
    team: TeamName = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Register a Telegram account as a user."""

    async def work(session: AsyncSession, _: Settings) -> User:
        return await users.add_user(
            session, telegram_id=telegram_id, role=role, team_name=team, name=name
        )

    user = run_in_session(work)
    typer.echo(f"user {user.display_name!r} ({user.role}) added with Telegram id {telegram_id}")


@app.command()
def invite(
    role: Role,
    team: TeamName = None,
    name: Annotated[str | None, typer.Option(help="Display name to give the new user.")] = None,
    bot_username: Annotated[
        str | None, typer.Option(help="The bot's @username (default: asked from Telegram).")
    ] = None,
) -> None:
    """Print a one-time link that makes whoever opens it a user."""
    username = bot_username.lstrip("@") if bot_username else _ask_bot_username(settings_or_exit())

    async def work(session: AsyncSession, _: Settings) -> Invite:
        return await users.create_invite(
            session, role=role, team_name=team, name=name, now=utcnow()
        )

    created = run_in_session(work)
    typer.echo(f"https://t.me/{username}?start={created.token}")
    say(f"single use, valid until {created.expires_at:%Y-%m-%d %H:%M} UTC")


def _ask_bot_username(settings: Settings) -> str:
    if settings.telegram_bot_token is None:
        fail("set TELEGRAM_BOT_TOKEN, or give --bot-username, to build the link")

    from bot.app import create_bot  # aiogram takes seconds to import; only this command needs it

    async def ask() -> str:
        bot = create_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
        async with bot.session:
            me = await bot.get_me()
        return me.username or ""

    try:
        return asyncio.run(ask())
    except Exception as error:  # aiogram and aiohttp raise many kinds; the user needs one line.
        fail(f"cannot ask Telegram for the bot's username ({error}); give --bot-username")


@app.command()
def deactivate(
    telegram_id: Annotated[int, typer.Option(help="The leaver's Telegram user id.")],
    reassign_to: Annotated[
        int | None, typer.Option(help="Telegram id of the colleague who takes the open leads.")
    ] = None,
    to_pool: Annotated[bool, typer.Option("--to-pool", help="Put open leads in the pool.")] = False,
) -> None:
    """Offboard a user: their open leads go to a colleague or to the pool."""

    async def work(session: AsyncSession, _: Settings) -> users.Offboarding:
        return await users.deactivate(
            session, telegram_id=telegram_id, reassign_to=reassign_to, to_pool=to_pool
        )

    done = run_in_session(work)
    where = f"to {done.successor.display_name}" if done.successor else "to the pool"
    typer.echo(f"{done.user.display_name} deactivated; {len(done.lead_ids)} open leads {where}")


@app.command("list")
def list_() -> None:
    """Every user with role, team and status, one per line."""

    async def work(session: AsyncSession, _: Settings) -> list[tuple[User, Team | None]]:
        return await users.list_users(session)

    for user, team in run_in_session(work):
        flags = [
            "active" if user.is_active else "inactive",
            "on-shift" if user.on_shift else "off-shift",
        ]
        if not user.reachable:
            flags.append("unreachable")
        team_name = team.name if team else "-"
        typer.echo(
            f"{user.telegram_id}\t{user.display_name}\t{user.role}\t{team_name}\t{' '.join(flags)}"
        )


@app.command("set")
def set_(
    telegram_id: Annotated[int, typer.Argument(help="The user's Telegram id.")],
    weight: Annotated[
        int | None, typer.Option(help="Round-robin weight (2 = twice the leads).")
    ] = None,
    max_open_leads: Annotated[int | None, typer.Option(help="Cap on open leads; 0 = none.")] = None,
    shift: Annotated[bool | None, typer.Option("--on-shift/--off-shift", help="Shift.")] = None,
) -> None:
    """Change a user's routing weight, open-lead cap or shift."""

    async def work(session: AsyncSession, _: Settings) -> User:
        return await users.update_user(
            session,
            telegram_id=telegram_id,
            weight=weight,
            max_open_leads=max_open_leads,
            on_shift=shift,
        )

    user = run_in_session(work)
    typer.echo(
        f"{user.display_name}: weight={user.weight} "
        f"max-open-leads={user.max_open_leads or 'none'} on-shift={user.on_shift}"
    )
