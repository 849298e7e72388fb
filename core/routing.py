"""Routing: which rep a new lead is offered to, the claim deadline, and where it goes next.

Rules of a team are tried in order and the first that matches the lead decides; a team
without rules has the default: round robin over its active reps on shift. Reps who are
inactive, off shift, unreachable, full (open-lead cap) or cooling down are skipped. No
candidate: the lead goes to the team's pool and every manager of the team is told. The
chosen rep is locked until the transaction ends, so concurrent leads go to different reps.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import outbox, teams
from core.masking import mask_email, mask_phone
from core.models import (
    ClaimBlock,
    Lead,
    LeadOffer,
    LeadState,
    LeadTag,
    Role,
    RoutingRule,
    Tag,
    Team,
    User,
)
from core.models.leads import fold_name

STRATEGIES = ("round-robin", "least-loaded", "to-user")
OPEN_STATES = (LeadState.OFFERED, LeadState.OWNED)
# The statements below run for every lead, so they are built once, with bound parameters:
# building one anew costs more CPU than SQLite takes to run it.
_RULES = (
    select(RoutingRule)
    .where(RoutingRule.team_id == sa.bindparam("team_id"))
    .order_by(col(RoutingRule.position), col(RoutingRule.id))
)
#: The open leads a rep holds: offered to them or owned.
_LOAD = (
    select(func.count())
    .where(col(Lead.owner_id) == col(User.id), col(Lead.state).in_(OPEN_STATES))
    .correlate(User)
    .scalar_subquery()
)
_USERS = User.__table__  # type: ignore[attr-defined]


def _in_rotation(users: sa.FromClause) -> tuple[sa.ColumnElement[bool], ...]:
    """In SQL, as `in_rotation`: the reps round robin takes turns with, in a team."""
    return (users.c.role == Role.REP, users.c.is_active, users.c.on_shift, users.c.reachable)


#: A rep's own cap on open leads, else the team's (None: no cap).
_CAP = func.coalesce(col(User.max_open_leads), sa.bindparam("team_cap", type_=sa.Integer))
#: Active, on-shift, reachable reps of the team below their cap, not excluded and not
#: cooling down for the lead: their id and chat (rows, not User objects, which cost more to
#: load than the query takes to run).
_ELIGIBLE = select(User.id, User.telegram_id).where(
    User.team_id == sa.bindparam("team_id"),
    *_in_rotation(_USERS),
    col(User.id).not_in(sa.bindparam("exclude", expanding=True)),
    col(User.id).not_in(
        select(ClaimBlock.user_id).where(
            ClaimBlock.lead_id == sa.bindparam("lead_id"),
            ClaimBlock.until > sa.bindparam("now"),
        )
    ),
    sa.or_(_CAP.is_(None), _LOAD < _CAP),
)
#: A rep's routing weight (at least 1): a rep of weight 2 takes twice the leads.
_WEIGHT = sa.case((col(User.weight) > 1, col(User.weight)), else_=1)
#: Whose turn it is: route credit grows by 1/weight with each lead a rep is offered.
_IN_TURN = _ELIGIBLE.order_by(col(User.route_credit), col(User.id)).limit(1)
#: The fewest open leads per unit of weight (ties: the lowest id).
_LEAST_LOADED = _ELIGIBLE.order_by(sa.cast(_LOAD, sa.Float) / _WEIGHT, col(User.id)).limit(1)
_THE_USER = _ELIGIBLE.where(User.id == sa.bindparam("user_id"))
_BY_STRATEGY = {"round-robin": _IN_TURN, "least-loaded": _LEAST_LOADED, "to-user": _THE_USER}
#: First try: reps another transaction is offering a lead to at this moment are passed over,
#: so two leads routed at once go to two reps (on SQLite a locking read takes the process's
#: write turn instead: see core/db.py).
#: FOR NO KEY UPDATE (key_share): a plain FOR UPDATE would also block other transactions'
#: foreign-key checks on the rep (an outbox row for them), and they deadlocked with it.
_PASSING_BUSY = {
    name: query.with_for_update(skip_locked=True, key_share=True, of=User)
    for name, query in _BY_STRATEGY.items()
}
#: Then, when every candidate was busy: wait for them rather than pool the lead.
_WAITING = {
    name: query.with_for_update(key_share=True, of=User) for name, query in _BY_STRATEGY.items()
}
_LEAD_OFFERS = LeadOffer.__table__  # type: ignore[attr-defined]
#: Core INSERTs for the offer and a new lead: the ORM's unit of work cost more than the rest
#: of the offer, and as much as the rest of a new lead's intake.
_NEW_OFFER = sa.insert(_LEAD_OFFERS).returning(_LEAD_OFFERS.c.id)
_LEADS = Lead.__table__  # type: ignore[attr-defined]
_NEW_LEAD = sa.insert(_LEADS).returning(_LEADS.c.id)
_LEAD_COLUMNS = tuple(column.key for column in _LEADS.columns if column.key != "id")
#: Added in SQL, not in Python: two leads routed at once to the same rep both count.
_CREDIT = (
    sa.update(_USERS)
    .where(_USERS.c.id == sa.bindparam("rep_id"))
    .values(route_credit=_USERS.c.route_credit + sa.literal(1.0, sa.Float) / _WEIGHT)
)
_OTHERS = _USERS.alias("others")
#: The lowest credit among the team's other reps in rotation (NULL when there are none).
_TURN_FLOOR = (
    sa.select(sa.func.min(_OTHERS.c.route_credit))
    .where(
        _OTHERS.c.team_id == sa.bindparam("rep_team_id"),
        *_in_rotation(_OTHERS),
        _OTHERS.c.id != sa.bindparam("rep_id"),
    )
    .scalar_subquery()
)
#: In SQL: the credit a session holds may be stale, as leads are credited by `_CREDIT`.
_JOIN_TURN = (
    sa.update(_USERS)
    .where(_USERS.c.id == sa.bindparam("rep_id"), _USERS.c.route_credit < _TURN_FLOOR)
    .values(route_credit=_TURN_FLOOR)
)


#: The rep routing chose: their id and their Telegram chat.
Rep = sa.Row[tuple[int, int]]


@dataclass(frozen=True)
class Offer:
    """An offer as made: to a rep, or to the team's group (user_id None)."""

    id: int
    lead_id: int
    user_id: int | None
    chat_id: int
    deadline: datetime


async def route(
    session: AsyncSession,
    *,
    lead: Lead,
    team: Team,
    now: datetime,
    exclude: Collection[int] = (),
    group_first: bool = True,
) -> Offer | None:
    """Offer the lead (to the team's group, or a rep by the rules) or put it in the pool."""
    if group_first and team.offer_mode == "group" and team.group_chat_id is not None:
        return await _offer(session, lead, team, None, team.group_chat_id, now)
    rep = await pick(session, lead=lead, team=team, now=now, exclude=exclude)
    if rep is None:
        await to_pool(session, lead=lead, team=team, now=now)
        return None
    await session.exec(_CREDIT, params={"rep_id": rep.id})
    return await _offer(session, lead, team, rep.id, rep.telegram_id, now)


def in_rotation(user: User) -> bool:
    """Whether round robin takes turns with the user: an active rep of a team, on shift and
    reachable (caps and cool-downs only skip a turn)."""
    return (
        user.role == Role.REP
        and user.team_id is not None
        and user.is_active
        and user.on_shift
        and user.reachable
    )


async def join_turn(session: AsyncSession, *, rep: User) -> None:
    """Line up a rep entering the rotation with the team's reps already in it.

    Round robin offers each lead to the lowest credit, and credit only grows: a new rep (none
    yet) or one back from a shift off or a block (credit left behind) would take every lead
    until caught up. Raised to the lowest credit among the others in rotation, they take turns
    with them at once. Never lowered: a rep back before the others caught up keeps their place.
    Call it once the rep has an id, after the change that may have brought them in.
    """
    if in_rotation(rep):
        await session.exec(_JOIN_TURN, params={"rep_id": rep.id, "rep_team_id": rep.team_id})


async def pick(
    session: AsyncSession, *, lead: Lead, team: Team, now: datetime, exclude: Collection[int]
) -> Rep | None:
    """The rep the first matching rule chooses among those who can take a lead now."""
    rule = await _first_match(session, await _rules(session, team), lead)
    params = {
        "team_id": team.id,
        "team_cap": team.max_open_leads,
        "lead_id": lead.id,
        "now": now,
        "exclude": list(exclude),
    }
    strategy = rule.strategy if rule is not None else "round-robin"
    if rule is not None and strategy == "to-user":
        params["user_id"] = rule.user_id
    passing_busy = _PASSING_BUSY[strategy]
    rep = (await session.exec(passing_busy, params=params)).first()
    if rep is None and (await session.exec(_WAITING[strategy], params=params)).first():
        # A read that waited for a lock sees the row it locked anew, but not the leads the
        # other transaction offered meanwhile, so it may pass a rep who is now full. Its wait
        # is over: choosing again reads what that transaction committed.
        rep = (await session.exec(passing_busy, params=params)).first()
    return rep


async def _rules(session: AsyncSession, team: Team) -> Sequence[RoutingRule]:
    return (await session.exec(_RULES, params={"team_id": team.id})).all()


async def _first_match(
    session: AsyncSession, rules: Sequence[RoutingRule], lead: Lead
) -> RoutingRule | None:
    for rule in rules:
        if await _matches(session, rule, lead):
            return rule
    return None


async def _matches(session: AsyncSession, rule: RoutingRule, lead: Lead) -> bool:
    if rule.match_field is None:
        return True
    value = (rule.match_value or "").casefold()
    if rule.match_field == "source":
        return (lead.source or "").casefold() == value
    if rule.match_field == "region":
        return (lead.region or "").casefold() == value
    if rule.match_field == "tag":
        tags = await session.exec(select(Tag.name).join(LeadTag).where(LeadTag.lead_id == lead.id))
        return value in {tag.casefold() for tag in tags}
    key = rule.match_field.removeprefix("profile.")
    return str(lead.profile.get(key, "")).casefold() == value


_LOAD_AND_CAP = select(_LOAD, _CAP).where(col(User.id) == sa.bindparam("rep_id"))
#: The rep's row locked as routing locks it (FOR NO KEY UPDATE).
_LOCK_REP = (
    select(User.id).where(col(User.id) == sa.bindparam("rep_id")).with_for_update(key_share=True)
)


async def lock_rep(session: AsyncSession, rep: User) -> None:
    """Hold the rep's row until the transaction ends: whatever else adds to their load (an
    offer, another claim) waits. Count after this, in a statement of its own: a read that
    waited for the lock sees only the locked row anew (PostgreSQL), not the leads counted."""
    await session.exec(_LOCK_REP, params={"rep_id": rep.id})


async def load_and_cap(session: AsyncSession, rep: User, team: Team) -> tuple[int, int | None]:
    """The rep's open leads and their cap (their own, else the team's; None: no cap)."""
    params = {"rep_id": rep.id, "team_cap": team.max_open_leads}
    load, cap = (await session.exec(_LOAD_AND_CAP, params=params)).one()
    return load, cap


async def _offer(
    session: AsyncSession,
    lead: Lead,
    team: Team,
    user_id: int | None,
    chat_id: int,
    now: datetime,
) -> Offer:
    """Offer the lead to a rep (`user_id`) or to the team's group (None) in `chat_id`."""
    deadline = now + timedelta(seconds=team.claim_window_seconds)
    lead.state, lead.owner_id = LeadState.OFFERED, user_id
    lead.offered_at, lead.claim_deadline = now, deadline
    await _save(session, lead)
    lead_id = lead.id or 0
    row = {
        "lead_id": lead_id,
        "user_id": user_id,
        "chat_id": chat_id,
        "offered_at": now,
        "deadline": deadline,
        "outcome": "pending",
    }
    offer_id = (await session.exec(_NEW_OFFER, params=row)).scalar_one()
    offer = Offer(offer_id, lead_id, user_id, chat_id, deadline)
    await outbox.enqueue(
        session,
        kind="lead_offer",
        chat_id=chat_id,
        recipient_id=user_id,
        params=offer_snapshot(lead, team, offer),
        dedup_key=f"offer:{offer.id}",
    )
    return offer


async def _save(session: AsyncSession, lead: Lead) -> None:
    """Write the lead as routed. One the ORM knows is flushed; a new one (transient: routed
    before its first write) is inserted here and gets its id."""
    if not sa.inspect(lead).transient:
        await session.flush()
        return
    fold_name(lead)
    values = {key: getattr(lead, key) for key in _LEAD_COLUMNS}
    lead.id = (await session.exec(_NEW_LEAD, params=values)).scalar_one()


def offer_snapshot(lead: Lead, team: Team, offer: Offer) -> dict[str, object]:
    """What an offer may show before the lead is claimed: the contact stays masked."""
    return {
        "lead_id": lead.id,
        "offer_id": offer.id,
        "team_id": team.id,
        "name": lead.name,
        "source": lead.source,
        "phone": mask_phone(lead.phone_e164),
        "email": mask_email(lead.email),
        "profile": {key: str(value) for key, value in lead.profile.items()},
        "budget": str(lead.budget) if lead.budget is not None else None,
        "currency": lead.budget_currency,
        "deadline": offer.deadline.isoformat(),
        "group": offer.user_id is None,
    }


async def to_pool(session: AsyncSession, *, lead: Lead, team: Team, now: datetime) -> None:
    """Nobody can take the lead now: it waits in the pool and the managers are told."""
    lead.state, lead.owner_id, lead.claim_deadline = LeadState.POOL, None, None
    await _save(session, lead)
    for manager in await teams.managers(session, team.id):
        await outbox.enqueue(
            session,
            kind="lead_pooled",
            chat_id=manager.telegram_id,
            recipient_id=manager.id,
            params={"lead_id": lead.id, "lead_name": lead.name},
            dedup_key=f"pooled:{lead.id}:{manager.id}:{now.isoformat()}",
        )
