"""Lead sources: a web form or sender, its endpoint name, secret, mapping, team and tags."""

import math
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.errors import Conflict, InvalidInput, NotFound
from core.mapping import DEFAULT_KEYS, KINDS, UTM_FIELDS
from core.models import Channel, LeadSource, Team
from core.tags import clean as clean_tag
from core.teams import get_team

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Headers in which a Tilda source's API key may arrive (Tilda signs nothing).
KEY_HEADERS = ("x-api-key", "api-key", "x-leadloop-key")
#: Fields a mapping may fill: the lead's own, utm_*, or profile.<attribute>.
MAPPABLE = (*DEFAULT_KEYS, *UTM_FIELDS)
#: Requests a second, and requests at once: bounded so that the rate limiter's arithmetic
#: (burst / rate, 1 / rate) stays finite and a burst fits the database's integer column.
RATE_RANGE = (0.001, 1_000_000)
BURST_RANGE = (1, 1_000_000)


def endpoint(name: str) -> str:
    """The HTTP path a source's sender posts to."""
    return f"/webhooks/leads/{name}"


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`field=path` pairs, e.g. `phone=contact.phone` or `profile.rooms=Rooms`."""
    mapping = {}
    for pair in pairs:
        target, _, path = pair.partition("=")
        target, path = target.strip(), path.strip()
        if not path or not (target in MAPPABLE or target.startswith("profile.")):
            fields = ", ".join(MAPPABLE)
            raise InvalidInput(
                f"{pair!r}: write FIELD=PATH with FIELD one of {fields}, profile.KEY"
            )
        mapping[target] = path
    return mapping


#: Built once: every webhook request looks its source and its team up.
_BY_NAME = (
    select(LeadSource, Team)
    .join(Team, col(Team.id) == col(LeadSource.team_id))
    .where(LeadSource.name == sa.bindparam("name"))
)


async def get_source(session: AsyncSession, name: str) -> LeadSource:
    return (await source_and_team(session, name))[0]


async def source_and_team(session: AsyncSession, name: str) -> tuple[LeadSource, Team]:
    """The source and the team its leads land in, in one query."""
    found = (await session.exec(_BY_NAME, params={"name": name})).first()
    if found is None:
        raise NotFound(f"no source named {name!r}", code="source_not_found")
    return found[0], found[1]


_SOURCES = LeadSource.__table__  # type: ignore[attr-defined]
_TEAMS = Team.__table__  # type: ignore[attr-defined]
#: Every stored value of some sources and their teams, by the source's id.
_AS_STORED = (
    sa.select(_SOURCES.c.id, *_SOURCES.c, *_TEAMS.c)
    .join(_TEAMS, _TEAMS.c.id == _SOURCES.c.team_id)
    .where(_SOURCES.c.id.in_(sa.bindparam("ids", expanding=True)))
)


def _as_read(source: LeadSource, team: Team) -> tuple[Any, ...]:
    return tuple(getattr(source, c.key) for c in _SOURCES.c) + tuple(
        getattr(team, c.key) for c in _TEAMS.c
    )


async def changed(session: AsyncSession, read: Sequence[tuple[LeadSource, Team]]) -> list[bool]:
    """For each source, as it was read with its team: whether either has changed since (or
    the source is gone)."""
    ids = sorted({source.id for source, _ in read if source.id is not None})
    rows = await session.exec(_AS_STORED, params={"ids": ids})
    stored = {row[0]: tuple(row[1:]) for row in rows}
    # Deliveries that arrive together mostly share one source (and team) as read: once each.
    seen = {(id(source), id(team)): (source, team) for source, team in read}
    stale = {key: stored.get(pair[0].id) != _as_read(*pair) for key, pair in seen.items()}
    return [stale[id(source), id(team)] for source, team in read]


async def list_sources(session: AsyncSession) -> list[LeadSource]:
    return list((await session.exec(select(LeadSource).order_by(col(LeadSource.name)))).all())


async def add_source(
    session: AsyncSession, *, name: str, kind: str, values: dict[str, Any]
) -> LeadSource:
    if not _NAME.match(name):
        raise InvalidInput("a source name is 1-64 of a-z 0-9 _ - (it becomes the URL)")
    if kind not in KINDS:
        raise InvalidInput(f"{kind!r} is not one of the kinds: {', '.join(KINDS)}")
    source = LeadSource(name=name, kind=kind)
    await _apply(session, source, values)
    session.add(source)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a source named {name!r} exists already") from None
    audit.record(
        session,
        actor=None,
        channel=Channel.CLI,
        entity="source",
        entity_id=source.id,
        action="create",
        after={"name": name, "kind": kind},
    )
    await session.commit()
    return source


async def update_source(session: AsyncSession, *, name: str, values: dict[str, Any]) -> LeadSource:
    source = await get_source(session, name)
    await _apply(session, source, values)
    audit.record(
        session,
        actor=None,
        channel=Channel.CLI,
        entity="source",
        entity_id=source.id,
        action="update",
        after={
            key: str(value)
            for key, value in values.items()
            if key not in ("secret", "access_token")
        },
    )
    await session.commit()
    return source


async def _apply(session: AsyncSession, source: LeadSource, values: dict[str, Any]) -> None:
    if "team" in values:
        source.team_id = (await get_team(session, values["team"])).id
    if "secret" in values:
        source.secret = _secret(source.kind, values["secret"])
    for plain in ("verify_token", "access_token", "campaign"):
        if plain in values:
            setattr(source, plain, values[plain] or None)
    if "mapping" in values:
        source.mapping = {**source.mapping, **parse_mapping(values["mapping"])}
    if "tags" in values:
        source.tags = sorted({*source.tags, *(clean_tag(tag) for tag in values["tags"])})
    if "rate" in values:
        source.rate_per_second = _within(values["rate"], "rate", *RATE_RANGE)
    if "burst" in values:
        source.rate_burst = int(_within(values["burst"], "burst", *BURST_RANGE))
    if source.team_id is None:
        raise InvalidInput("a source needs --team: leads must land in a team")


def _secret(kind: str, secret: str | None) -> str | None:
    if secret and not 1 <= len(secret) <= 256:
        raise InvalidInput("a secret has 1 to 256 characters")
    if secret and kind == "generic" and not secret.startswith("whsec_"):
        raise InvalidInput("a generic source's secret is a Standard Webhooks key: whsec_<base64>")
    return secret or None


def _within(value: Any, what: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:  # NaN and the infinities fail this too
        raise InvalidInput(f"{what} must be a number from {low} to {high}")
    return number
