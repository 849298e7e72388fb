"""`leadloop team …`: create teams, change their settings, list them."""

from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import teams
from core.models import Team
from core.settings import Settings
from leadloop.runtime import run_in_session, say

app = typer.Typer(help="Teams and their settings.", no_args_is_help=True)

Country = Annotated[str | None, typer.Option(help="Default region for phones, e.g. CN.")]
Timezone = Annotated[str | None, typer.Option(help="IANA time zone, e.g. Asia/Shanghai.")]
Currency = Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. CNY.")]
Locale = Annotated[str | None, typer.Option(help="en, ru or zh_Hans.")]
Preset = Annotated[
    str | None, typer.Option(help="generic, home-renovation, real-estate or used-cars.")
]


def _given(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


@app.command()
def add(
    name: str,
    country: Country = None,
    timezone: Timezone = None,
    currency: Currency = None,
    locale: Locale = None,
    preset: Preset = None,
) -> None:
    """Create a team (defaults: country from the default locale, UTC, USD, en, generic)."""
    values = _given(
        country=country, timezone=timezone, currency=currency, locale=locale, preset=preset
    )

    async def work(session: AsyncSession, settings: Settings) -> Team:
        return await teams.add_team(
            session, name=name, values=values, default_locale=settings.default_locale
        )

    team = run_in_session(work)
    say(f"team {team.name!r} created")
    typer.echo(describe(team))


@app.command("set")
def set_(
    name: str,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename the team.")] = None,
    country: Country = None,
    timezone: Timezone = None,
    currency: Currency = None,
    locale: Locale = None,
    preset: Preset = None,
    claim_window: Annotated[
        str | None, typer.Option(help="Time to claim an offered lead, e.g. 15m.")
    ] = None,
    stale_days: Annotated[
        str | None, typer.Option(help="Days without follow-up before a lead returns to the pool.")
    ] = None,
    digest_time: Annotated[str | None, typer.Option(help="Daily digest time, e.g. 09:00.")] = None,
    manager_chat: Annotated[
        str | None, typer.Option(help="Telegram chat id for manager alerts, or 'none'.")
    ] = None,
    offer_mode: Annotated[
        str | None, typer.Option(help="direct (one rep at a time) or group (first tap wins).")
    ] = None,
    group_chat: Annotated[
        str | None, typer.Option(help="Telegram id of the team's group for group offers.")
    ] = None,
    max_open_leads: Annotated[
        str | None, typer.Option(help="Cap on open leads per rep, or 'none'.")
    ] = None,
    score_weights: Annotated[
        str | None, typer.Option(help="Scoring weights, e.g. source=30,budget=20.")
    ] = None,
    reclaim_cooldown: Annotated[
        str | None, typer.Option(help="Wait before re-claiming a lead one let go, e.g. 24h.")
    ] = None,
) -> None:
    """Change a team's settings."""
    values = _given(
        name=new_name,
        country=country,
        timezone=timezone,
        currency=currency,
        locale=locale,
        preset=preset,
        claim_window=claim_window,
        stale_days=stale_days,
        digest_time=digest_time,
        manager_chat=manager_chat,
        offer_mode=offer_mode,
        group_chat=group_chat,
        max_open_leads=max_open_leads,
        reclaim_cooldown=reclaim_cooldown,
        score_weights=score_weights,
    )
    if not values:
        raise typer.BadParameter("give at least one setting to change, e.g. --claim-window 15m")

    async def work(session: AsyncSession, _: Settings) -> Team:
        return await teams.update_team(session, name=name, values=values)

    typer.echo(describe(run_in_session(work)))


@app.command("list")
def list_() -> None:
    """Every team with its settings, one per line."""

    async def work(session: AsyncSession, _: Settings) -> list[Team]:
        return await teams.list_teams(session)

    for team in run_in_session(work):
        typer.echo(describe(team))


def describe(team: Team) -> str:
    claim_window = teams.format_duration(team.claim_window_seconds)
    cooldown = teams.format_duration(team.reclaim_cooldown_seconds)
    return (
        f"{team.name}\tcountry={team.country} timezone={team.timezone} currency={team.currency} "
        f"locale={team.locale} preset={team.preset} claim-window={claim_window} "
        f"stale-days={team.stale_days} digest-time={team.digest_time:%H:%M} "
        f"manager-chat={team.manager_chat_id or 'none'} offer-mode={team.offer_mode} "
        f"group-chat={team.group_chat_id or 'none'} max-open-leads={team.max_open_leads or 'none'} "
        f"reclaim-cooldown={cooldown}"
    )
