"""Teams and their settings: region, time zone, currency, language, pipeline and timings."""

import re
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import is_currency
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.contacts import is_supported_region
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import Channel, Lead, LeadState, Role, Team, User
from core.permissions import is_manager_of
from core.pipelines import PRESETS
from core.scoring import DEFAULT_WEIGHTS
from core.settings import LOCALES

#: The country a new team gets when none is given, from the installation's default language.
DEFAULT_COUNTRY = {"en": "US", "ru": "RU", "zh_Hans": "CN"}

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """`15m`, `1h30m`, `2d`, `90s`; a bare number means minutes."""
    value = text.strip().lower()
    if value.isdigit():
        return timedelta(minutes=int(value))
    match = _DURATION.match(value)
    if not value or not match:
        raise InvalidInput(f"{text!r} is not a duration such as 15m, 1h or 2d", code="duration")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise InvalidInput("a duration must be longer than zero", code="duration")
    return duration


def format_duration(seconds: int) -> str:
    """Seconds as `parse_duration` reads them: `15m`, `1h30m`, `2d`."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0m"


def _country(text: str) -> str:
    if not is_supported_region(text):
        raise InvalidInput(f"{text!r} is not a two-letter country code such as US or CN")
    return text.upper()


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{text!r} is not an IANA time zone such as Europe/Moscow") from None
    return text


def _currency(text: str) -> str:
    if not is_currency(text.upper()):
        raise InvalidInput(f"{text!r} is not an ISO 4217 currency code such as USD")
    return text.upper()


def _locale(text: str) -> str:
    if text not in LOCALES:
        raise InvalidInput(f"{text!r} is not one of the languages: {', '.join(LOCALES)}")
    return text


def _preset(text: str) -> str:
    if text not in PRESETS:
        raise InvalidInput(f"{text!r} is not one of the presets: {', '.join(PRESETS)}")
    return text


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise InvalidInput(f"{text!r} is not a whole number above zero")
    return int(text)


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time of day such as 09:00") from None


def _chat_id(text: str) -> int | None:
    if text.strip().lower() in ("", "none", "off"):
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a Telegram chat id") from None


def _name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a team name has 1 to 100 characters")
    return name


def _score_weights(text: str) -> dict[str, int]:
    """`source=30,budget=20`: points each scoring factor may give at most."""
    weights = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        factor, _, points = pair.partition("=")
        if factor.strip() not in DEFAULT_WEIGHTS or not points.strip().isdigit():
            factors = ", ".join(DEFAULT_WEIGHTS)
            raise InvalidInput(f"{pair!r}: write FACTOR=POINTS with FACTOR one of {factors}")
        weights[factor.strip()] = int(points)
    return weights


def _offer_mode(text: str) -> str:
    if text not in ("direct", "group"):
        raise InvalidInput(f"{text!r} is not an offer mode: direct or group")
    return text


def _cap(text: str) -> int | None:
    return None if text.strip().lower() in ("", "none", "off") else _positive_int(text)


#: Every team setting by its public name: the column it fills and how its text is read.
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "name": ("name", _name),
    "country": ("country", _country),
    "timezone": ("timezone", _timezone),
    "currency": ("currency", _currency),
    "locale": ("locale", _locale),
    "preset": ("preset", _preset),
    "claim_window": ("claim_window_seconds", lambda t: int(parse_duration(t).total_seconds())),
    "stale_days": ("stale_days", _positive_int),
    "digest_time": ("digest_time", _clock),
    "manager_chat": ("manager_chat_id", _chat_id),
    "offer_mode": ("offer_mode", _offer_mode),
    "group_chat": ("group_chat_id", _chat_id),
    "max_open_leads": ("max_open_leads", _cap),
    "score_weights": ("score_weights", _score_weights),
    "reclaim_cooldown": (
        "reclaim_cooldown_seconds",
        lambda t: int(parse_duration(t).total_seconds()),
    ),
}


def _snapshot(team: Team) -> dict[str, Any]:
    return {column: str(getattr(team, column)) for column, _ in SETTINGS.values()}


async def get_team(session: AsyncSession, name: str) -> Team:
    team = (await session.exec(select(Team).where(Team.name == name))).first()
    if team is None:
        raise NotFound(f"no team named {name!r}", name=name)
    return team


async def list_teams(session: AsyncSession) -> list[Team]:
    return list((await session.exec(select(Team).order_by(Team.name))).all())


async def add_team(
    session: AsyncSession,
    *,
    name: str,
    values: dict[str, str],
    default_locale: str,
    actor: User | None = None,
    channel: Channel = Channel.CLI,
) -> Team:
    """Create a team; settings not given take their defaults (country from the language)."""
    team = Team(name=_name(name), country=DEFAULT_COUNTRY[default_locale])
    _apply(team, values)
    session.add(team)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a team named {name!r} exists already", name=name) from None
    audit.record(
        session,
        actor=actor,
        channel=channel,
        entity="team",
        entity_id=team.id,
        action="create",
        after=_snapshot(team),
    )
    await session.commit()
    return team


async def update_team(
    session: AsyncSession,
    *,
    name: str,
    values: dict[str, str],
    actor: User | None = None,
    channel: Channel = Channel.CLI,
) -> Team:
    """Change some of a team's settings, each given as the text a person typed."""
    team = await get_team(session, name)
    if actor is not None and not is_manager_of(actor, team.id):
        raise Forbidden("only the team's manager changes its settings", code="managers_only")
    before = _snapshot(team)
    _apply(team, values)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a team named {values.get('name')!r} exists already") from None
    audit.record(
        session,
        actor=actor,
        channel=channel,
        entity="team",
        entity_id=team.id,
        action="update",
        before=before,
        after=_snapshot(team),
    )
    await session.commit()
    return team


def _apply(team: Team, values: dict[str, str]) -> None:
    for setting, text in values.items():
        if setting not in SETTINGS:
            raise InvalidInput(f"unknown team setting {setting!r}")
        column, parse = SETTINGS[setting]
        try:
            setattr(team, column, parse(text))
        except InvalidInput as error:
            raise InvalidInput(f"{setting.replace('_', '-')}: {error}") from None


async def managed_team(session: AsyncSession, *, actor: User) -> Team:
    """The actor's team, to read and change its settings: for its manager (or an admin)."""
    if actor.team_id is None or not is_manager_of(actor, actor.team_id):
        raise Forbidden("a team's settings are for its manager", code="managers_only")
    return await session.get_one(Team, actor.team_id)


async def managers(session: AsyncSession, team_id: int | None) -> list[User]:
    """The team's active managers: who is told what concerns the team (a pooled lead...)."""
    rows = await session.exec(
        select(User).where(User.team_id == team_id, User.role == Role.MANAGER, col(User.is_active))
    )
    return list(rows.all())


async def roster(session: AsyncSession, *, actor: User) -> list[tuple[User, int]]:
    """The team's active people with their open leads: who is on shift and how loaded."""
    if not is_manager_of(actor, actor.team_id):
        raise Forbidden("the team overview is for managers", code="managers_only")
    open_leads = (
        select(Lead.owner_id, func.count().label("open"))
        .where(col(Lead.state).in_((LeadState.OWNED, LeadState.OFFERED)))
        .group_by(col(Lead.owner_id))
        .subquery()
    )
    rows = await session.exec(
        select(User, func.coalesce(open_leads.c.open, 0))
        .join(open_leads, open_leads.c.owner_id == User.id, isouter=True)
        .where(User.team_id == actor.team_id, col(User.is_active))
        .order_by(col(User.on_shift).desc(), col(User.display_name))
    )
    return [(user, count) for user, count in rows.all()]
