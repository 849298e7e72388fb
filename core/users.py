"""People: adding them, inviting them through a one-time link, and offboarding them."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, offers, outbox, routing, teams
from core.db import in_shapes
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import (
    OPEN_STATES,
    Channel,
    Invite,
    Lead,
    LeadState,
    Role,
    Task,
    Team,
    User,
    utcnow,
)
from core.permissions import is_manager_of
from core.settings import LOCALES
from core.teams import get_team

INVITE_LIFETIME = timedelta(days=7)


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise InvalidInput(f"{text!r} is not a role; use one of {roles}") from None


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    return (await session.exec(select(User).where(User.telegram_id == telegram_id))).first()


async def require_by_telegram_id(session: AsyncSession, telegram_id: int) -> User:
    user = await get_by_telegram_id(session, telegram_id)
    if user is None:
        raise NotFound(f"no user with Telegram id {telegram_id}", telegram_id=telegram_id)
    return user


async def list_users(session: AsyncSession) -> list[tuple[User, Team | None]]:
    query = select(User, Team).join(Team, isouter=True).order_by(Team.name, User.display_name)
    return [(user, team) for user, team in (await session.exec(query)).all()]


async def add_user(
    session: AsyncSession,
    *,
    telegram_id: int,
    role: str,
    team_name: str | None,
    name: str | None = None,
    actor: User | None = None,
    channel: Channel = Channel.CLI,
) -> User:
    """Register a Telegram account as a user of a team."""
    team = await get_team(session, team_name) if team_name else None
    user = User(
        telegram_id=telegram_id,
        display_name=(name or f"User {telegram_id}").strip()[:100],
        role=parse_role(role),
        team_id=team.id if team else None,
    )
    _require_team_unless_admin(user)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"Telegram id {telegram_id} is a user already") from None
    await routing.join_turn(session, rep=user)
    _audit_user(session, user, actor=actor, channel=channel, action="create")
    await session.commit()
    return user


async def create_invite(
    session: AsyncSession,
    *,
    role: str,
    team_name: str | None,
    now: datetime,
    name: str | None = None,
    actor: User | None = None,
) -> Invite:
    """A single-use token, valid for a week, that makes its opener a user of the team.

    With an `actor` (the bot), only the team's manager invites, and only an admin invites admins.
    """
    team = await get_team(session, team_name) if team_name else None
    if actor is not None and not _may_invite(actor, team, role):
        raise Forbidden("only a manager of the team invites people to it", code="managers_only")
    invite = Invite(
        token=secrets.token_urlsafe(24),
        role=parse_role(role),
        team_id=team.id if team else None,
        display_name=name,
        created_by_id=actor.id if actor else None,
        created_at=now,
        expires_at=now + INVITE_LIFETIME,
    )
    if invite.role != Role.ADMIN and invite.team_id is None:
        raise InvalidInput("only an admin can be without a team; give --team")
    session.add(invite)
    await session.commit()
    return invite


def _may_invite(actor: User, team: Team | None, role: str) -> bool:
    if actor.role == Role.ADMIN:
        return True
    return role != Role.ADMIN and team is not None and is_manager_of(actor, team.id)


async def accept_invite(
    session: AsyncSession,
    *,
    token: str,
    telegram_id: int,
    display_name: str,
    now: datetime,
    telegram_locale: str | None = None,
) -> User:
    """Bind the Telegram account that opened an invite link; each token works once."""
    invite = (await session.exec(select(Invite).where(Invite.token == token))).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        raise NotFound("this invitation is unknown, used or expired", code="invite_invalid")
    if await get_by_telegram_id(session, telegram_id) is not None:
        raise Conflict("this Telegram account is a user already", code="already_user")
    user = User(
        telegram_id=telegram_id,
        display_name=(invite.display_name or display_name).strip()[:100] or str(telegram_id),
        role=invite.role,
        team_id=invite.team_id,
        telegram_locale=telegram_locale,
    )
    session.add(user)
    await session.flush()
    invite.used_at = now
    invite.used_by_id = user.id
    await routing.join_turn(session, rep=user)
    _audit_user(session, user, actor=user, channel=Channel.BOT, action="join")
    await session.commit()
    return user


@dataclass(frozen=True)
class Offboarding:
    user: User
    lead_ids: list[int]
    successor: User | None


async def deactivate(
    session: AsyncSession,
    *,
    telegram_id: int,
    reassign_to: int | None,
    to_pool: bool,
    actor: User | None = None,
    channel: Channel = Channel.CLI,
) -> Offboarding:
    """Deactivate a user and hand every open lead of theirs to a colleague or to the pool."""
    if (reassign_to is None) == (not to_pool):
        raise InvalidInput("say where the open leads go: --reassign-to ID or --to-pool")
    leaver = await require_by_telegram_id(session, telegram_id)
    successor = None
    if reassign_to is not None:
        successor = await require_by_telegram_id(session, reassign_to)
        if not successor.is_active or successor.team_id != leaver.team_id or successor is leaver:
            raise InvalidInput("the successor must be another active member of the same team")
    leads = (
        await session.exec(
            select(Lead)
            .where(Lead.owner_id == leaver.id, col(Lead.state).in_(OPEN_STATES))
            .order_by(col(Lead.id))
        )
    ).all()
    for lead in leads:
        await _hand_over(session, lead, successor, actor=actor, channel=channel)
    await _hand_over_tasks(session, leaver, [lead.id for lead in leads], successor)
    leaver.is_active = False
    leaver.on_shift = False
    _audit_user(session, leaver, actor=actor, channel=channel, action="deactivate")
    lead_ids = [lead.id for lead in leads if lead.id is not None]
    if lead_ids:
        await _announce_handover(session, leaver, successor, lead_ids)
    await session.commit()
    return Offboarding(user=leaver, lead_ids=lead_ids, successor=successor)


async def _hand_over(
    session: AsyncSession,
    lead: Lead,
    successor: User | None,
    *,
    actor: User | None,
    channel: Channel,
) -> None:
    before = {"owner_id": lead.owner_id, "state": lead.state}
    await offers.withdraw(session, lead, utcnow())
    lead.owner_id = successor.id if successor else None
    lead.state = LeadState.OWNED if successor else LeadState.POOL
    audit.lead_changed(
        session,
        lead.id,
        "reassign" if successor else "release",
        actor=actor,
        channel=channel,
        before=before,
        after={"owner_id": lead.owner_id, "state": lead.state},
    )


async def _hand_over_tasks(
    session: AsyncSession, leaver: User, lead_ids: list[int | None], successor: User | None
) -> None:
    tasks = await session.exec(
        select(Task).where(
            Task.assignee_id == leaver.id,
            col(Task.lead_id).in_(lead_ids),
            col(Task.done_at).is_(None),
        )
    )
    for task in tasks:
        task.assignee_id = successor.id if successor else None


async def _announce_handover(
    session: AsyncSession, leaver: User, successor: User | None, lead_ids: list[int]
) -> None:
    params = {"leaver": leaver.display_name, "lead_ids": lead_ids}
    if successor is not None:
        await outbox.enqueue(
            session,
            kind="leads_reassigned",
            chat_id=successor.telegram_id,
            recipient_id=successor.id,
            params=params,
            dedup_key=f"offboard:{leaver.id}:to:{successor.id}:{lead_ids[0]}",
        )
        return
    for manager in await teams.managers(session, leaver.team_id):
        await outbox.enqueue(
            session,
            kind="leads_to_pool",
            chat_id=manager.telegram_id,
            recipient_id=manager.id,
            params=params,
            dedup_key=f"offboard:{leaver.id}:pool:{manager.id}:{lead_ids[0]}",
        )


def _require_team_unless_admin(user: User) -> None:
    if user.role != Role.ADMIN and user.team_id is None:
        raise InvalidInput("only an admin can be without a team; give --team")


def _audit_user(
    session: AsyncSession, user: User, *, actor: User | None, channel: Channel, action: str
) -> None:
    audit.record(
        session,
        actor=actor,
        channel=channel,
        entity="user",
        entity_id=user.id,
        action=action,
        after={"role": user.role, "team_id": user.team_id, "is_active": user.is_active},
    )


async def identify(
    session: AsyncSession, telegram_id: int, telegram_locale: str | None = None
) -> tuple[User | None, Team | None]:
    """The active user behind a Telegram account, with their team; (None, None) for strangers.

    A user who writes to the bot can be reached again, even if they had blocked it before;
    the language their Telegram reports is kept for pushes.
    """
    user = await get_by_telegram_id(session, telegram_id)
    if user is None or not user.is_active:
        return None, None
    if not user.reachable or (telegram_locale and user.telegram_locale != telegram_locale):
        await _mark_reachable(session, user, telegram_locale)
    team = await session.get(Team, user.team_id) if user.team_id is not None else None
    return user, team


async def _mark_reachable(session: AsyncSession, user: User, telegram_locale: str | None) -> None:
    was_in_rotation = routing.in_rotation(user)
    user.reachable = True
    user.telegram_locale = telegram_locale or user.telegram_locale
    if not was_in_rotation:
        await routing.join_turn(session, rep=user)
    await session.commit()


#: Built once: the outbox sender reads the readers of the pushes it is about to send.
_WITH_TEAMS = (
    select(User, Team)
    .outerjoin(Team, col(Team.id) == col(User.team_id))
    .where(col(User.id).in_(sa.bindparam("user_ids", expanding=True)))
)
_TEAMS = select(Team).where(col(Team.id).in_(sa.bindparam("team_ids", expanding=True)))


async def with_teams(
    session: AsyncSession, user_ids: Iterable[int]
) -> dict[int, tuple[User, Team | None]]:
    """Users and their teams, by user id, in one query per 64 users."""
    found: dict[int, tuple[User, Team | None]] = {}
    for piece in in_shapes(sorted(set(user_ids))):
        for user, team in await session.exec(_WITH_TEAMS, params={"user_ids": piece}):
            found[user.id or 0] = (user, team)
    return found


async def teams_by_id(session: AsyncSession, team_ids: Iterable[int]) -> dict[int, Team]:
    """Teams by id, in one query per 64 teams."""
    found: dict[int, Team] = {}
    for piece in in_shapes(sorted(set(team_ids))):
        for team in (await session.exec(_TEAMS, params={"team_ids": piece})).all():
            found[team.id or 0] = team
    return found


async def set_locale(session: AsyncSession, *, user: User, locale: str) -> User:
    """The language the user chose; it wins over Telegram's and the team's."""
    if locale not in LOCALES:
        raise InvalidInput(f"{locale!r} is not one of {', '.join(LOCALES)}", code="locale")
    user.locale = locale
    await session.commit()
    return user


async def update_user(
    session: AsyncSession,
    *,
    telegram_id: int,
    weight: int | None = None,
    max_open_leads: int | None = None,
    on_shift: bool | None = None,
    actor: User | None = None,
    channel: Channel = Channel.CLI,
) -> User:
    """Change a user's routing weight, open-lead cap or shift."""
    user = await require_by_telegram_id(session, telegram_id)
    was_in_rotation = routing.in_rotation(user)
    if weight is not None:
        if weight < 1:
            raise InvalidInput("a weight is a whole number of 1 or more")
        user.weight = weight
    if max_open_leads is not None:
        if max_open_leads < 0:
            raise InvalidInput("a cap is 0 (none) or more")
        user.max_open_leads = max_open_leads or None
    if on_shift is not None:
        user.on_shift = on_shift
    if not was_in_rotation:
        await routing.join_turn(session, rep=user)
    audit.record(
        session,
        actor=actor,
        channel=channel,
        entity="user",
        entity_id=user.id,
        action="update",
        after={
            "weight": user.weight,
            "on_shift": user.on_shift,
            "max_open_leads": user.max_open_leads,
        },
    )
    await session.commit()
    return user
