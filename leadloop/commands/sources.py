"""`leadloop source …` and `leadloop route …`: where leads come from and who gets them."""

from typing import Annotated, Any

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import rules, sources
from core.models import LeadSource
from core.settings import Settings
from leadloop.runtime import run_in_session, say

app = typer.Typer(help="Lead sources: web forms and senders.", no_args_is_help=True)
routes = typer.Typer(help="Assignment rules: who is offered a new lead.", no_args_is_help=True)

Team = Annotated[str | None, typer.Option(help="The team its leads land in.")]
Secret = Annotated[str | None, typer.Option(help="Signing secret (generic: a whsec_ key).")]
VerifyToken = Annotated[str | None, typer.Option(help="Meta: the handshake's verify token.")]
AccessToken = Annotated[str | None, typer.Option(help="Meta: Page access token for the Graph API.")]
Maps = Annotated[list[str] | None, typer.Option("--map", help="FIELD=PATH, repeatable.")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="Tag for its leads, repeatable.")]
Campaign = Annotated[str | None, typer.Option(help="Campaign for its leads.")]
Rate = Annotated[float | None, typer.Option(help="Requests a second sustained (default 20).")]
Burst = Annotated[int | None, typer.Option(help="Burst of requests allowed (default 500).")]


def _values(**given: Any) -> dict[str, Any]:
    renamed = {"mapping": given.pop("maps"), "tags": given.pop("tags")}
    return {key: value for key, value in {**given, **renamed}.items() if value is not None}


@app.command()
def add(
    name: str,
    kind: Annotated[str, typer.Option(help="generic, tilda, typeform, meta, tally, google-forms")],
    team: Team = None,
    secret: Secret = None,
    verify_token: VerifyToken = None,
    access_token: AccessToken = None,
    maps: Maps = None,
    tags: Tags = None,
    campaign: Campaign = None,
    rate: Rate = None,
    burst: Burst = None,
) -> None:
    """Create a source; prints the path its sender posts to."""
    values = _values(
        team=team,
        secret=secret,
        verify_token=verify_token,
        access_token=access_token,
        maps=maps,
        tags=tags,
        campaign=campaign,
        rate=rate,
        burst=burst,
    )

    async def work(session: AsyncSession, _: Settings) -> LeadSource:
        return await sources.add_source(session, name=name, kind=kind, values=values)

    source = run_in_session(work)
    say(f"source {source.name!r} ({source.kind}) created; its sender posts to:")
    typer.echo(sources.endpoint(source.name))


@app.command("set")
def set_(
    name: str,
    team: Team = None,
    secret: Secret = None,
    verify_token: VerifyToken = None,
    access_token: AccessToken = None,
    maps: Maps = None,
    tags: Tags = None,
    campaign: Campaign = None,
    rate: Rate = None,
    burst: Burst = None,
) -> None:
    """Change a source's settings (mappings and tags are added to the existing ones)."""
    values = _values(
        team=team,
        secret=secret,
        verify_token=verify_token,
        access_token=access_token,
        maps=maps,
        tags=tags,
        campaign=campaign,
        rate=rate,
        burst=burst,
    )

    async def work(session: AsyncSession, _: Settings) -> LeadSource:
        return await sources.update_source(session, name=name, values=values)

    typer.echo(describe(run_in_session(work)))


@app.command("list")
def list_() -> None:
    """Every source with its endpoint and settings (secrets are not shown)."""

    async def work(session: AsyncSession, _: Settings) -> list[LeadSource]:
        return await sources.list_sources(session)

    for source in run_in_session(work):
        typer.echo(describe(source))


def describe(source: LeadSource) -> str:
    mapping = ",".join(f"{key}={value}" for key, value in sorted(source.mapping.items()))
    return (
        f"{source.name}\t{source.kind}\t{sources.endpoint(source.name)}\t"
        f"secret={'set' if source.secret else 'none'} tags={','.join(source.tags) or '-'} "
        f"campaign={source.campaign or '-'} map={mapping or 'default'} "
        f"rate={source.rate_per_second:g}/s burst={source.rate_burst}"
    )


@routes.command("add")
def route_add(
    team: Annotated[str, typer.Option(help="The team.")],
    strategy: Annotated[str, typer.Option(help="round-robin, least-loaded or to-user.")],
    match: Annotated[
        str | None, typer.Option(help="source=X, region=Y, tag=Z or profile.KEY=V.")
    ] = None,
    user: Annotated[int | None, typer.Option(help="to-user: the rep's Telegram id.")] = None,
) -> None:
    """Add an assignment rule after the team's others; the first that matches decides."""

    async def work(session: AsyncSession, _: Settings) -> int:
        rule = await rules.add_rule(
            session, team_name=team, match=match, strategy=strategy, user_telegram_id=user
        )
        return rule.id or 0

    typer.echo(f"rule {run_in_session(work)} added")


@routes.command("list")
def route_list(team: Annotated[str, typer.Option(help="The team.")]) -> None:
    """The team's rules in the order they are tried."""

    async def work(session: AsyncSession, _: Settings) -> list[str]:
        lines = []
        for rule, user in await rules.list_rules(session, team_name=team):
            match = f"{rule.match_field}={rule.match_value}" if rule.match_field else "every lead"
            target = f" -> {user.display_name} ({user.telegram_id})" if user else ""
            lines.append(f"{rule.id}\t{match}\t{rule.strategy}{target}")
        return lines

    for line in run_in_session(work):
        typer.echo(line)
    typer.echo("default\tevery lead\tround-robin over active reps on shift")


@routes.command("remove")
def route_remove(rule_id: int) -> None:
    """Remove a rule by its id (from `leadloop route list`)."""

    async def work(session: AsyncSession, _: Settings) -> None:
        await rules.remove_rule(session, rule_id=rule_id)

    run_in_session(work)
    typer.echo(f"rule {rule_id} removed")
