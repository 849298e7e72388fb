"""Routing: which rep a new lead is offered to, the claim deadline, and where it goes next.

Rules of a team are tried in order and the first that matches the lead decides; a team
without rules has the default: round robin over its active reps on shift. Reps who are
inactive, off shift, unreachable, full (open-lead cap) or cooling down are skipped. No
candidate: the lead goes to the team's pool and every manager of the team is told. The
chosen rep is locked until the transaction ends, so concurrent leads go to different reps.

Leads that arrive together are routed together (`route_all`): the candidates are read once,
ranked by the strategy's order in SQL, and the turns are then taken in Python as they would
have been taken one lead after the other; the rows are written set-based.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import outbox, tags, teams
from core.contacts import Phone
from core.db import Rows, insert_returning
from core.masking import mask_email, mask_number, mask_phone
from core.models import (
    OPEN_STATES,
    ClaimBlock,
    Lead,
    LeadOffer,
    LeadState,
    Role,
    RoutingRule,
    Team,
    User,
)
from core.models.leads import fold_name

STRATEGIES = ("round-robin", "least-loaded", "to-user")
# The statements below run for every delivery, so they are built once, with bound
# parameters: building one anew costs more CPU than SQLite takes to run it.
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
#: A rep's routing weight (at least 1): a rep of weight 2 takes twice the leads.
_WEIGHT = sa.case((col(User.weight) > 1, col(User.weight)), else_=1)
#: Active, on-shift, reachable reps of the team below their cap, not excluded and not
#: cooling down for the leads, with what their turns depend on (rows, not User objects,
#: which cost more to load than the query takes to run).
_ELIGIBLE = select(User.id, User.telegram_id, User.route_credit, _WEIGHT, _LOAD, _CAP).where(
    User.team_id == sa.bindparam("team_id"),
    *_in_rotation(_USERS),
    col(User.id).not_in(sa.bindparam("exclude", expanding=True)),
    col(User.id).not_in(
        select(ClaimBlock.user_id).where(
            col(ClaimBlock.lead_id).in_(sa.bindparam("lead_ids", expanding=True)),
            ClaimBlock.until > sa.bindparam("now"),
        )
    ),
    sa.or_(_CAP.is_(None), _LOAD < _CAP),
)


@dataclass(slots=True)
class Candidate:
    """A rep who can take a lead now, as their turns stand while leads are routed."""

    id: int
    telegram_id: int
    #: Round robin's credit: grows by 1/weight with each lead the rep is offered.
    credit: float
    weight: int
    #: Open leads held (offered or owned), and their cap (None: no cap).
    load: int
    cap: int | None

    def take(self) -> None:
        self.credit += 1.0 / self.weight
        self.load += 1


@dataclass(frozen=True)
class _Turns:
    """A strategy's order of turns, the same in SQL (to read the first few) and in Python
    (to take them one lead after another): the first in order is next."""

    sql: tuple[Any, ...]
    key: Callable[[Candidate], tuple[float, int]]


_TURNS = {
    # Whose turn it is: the lowest credit (ties: the lowest id).
    "round-robin": _Turns((col(User.route_credit), col(User.id)), lambda rep: (rep.credit, rep.id)),
    # The fewest open leads per unit of weight (ties: the lowest id).
    "least-loaded": _Turns(
        (sa.cast(_LOAD, sa.Float) / _WEIGHT, col(User.id)),
        lambda rep: (rep.load / rep.weight, rep.id),
    ),
    "to-user": _Turns((col(User.id),), lambda rep: (0.0, rep.id)),
}
_BY_STRATEGY = {
    "round-robin": _ELIGIBLE,
    "least-loaded": _ELIGIBLE,
    "to-user": _ELIGIBLE.where(User.id == sa.bindparam("user_id")),
}
_RANKED = {
    name: query.order_by(*_TURNS[name].sql).limit(sa.bindparam("limit"))
    for name, query in _BY_STRATEGY.items()
}
#: First try: reps another transaction is offering a lead to at this moment are passed over,
#: so two leads routed at once go to two reps (on SQLite a locking read takes the process's
#: write turn instead: see core/db.py).
#: FOR NO KEY UPDATE (key_share): a plain FOR UPDATE would also block other transactions'
#: foreign-key checks on the rep (an outbox row for them), and they deadlocked with it.
_PASSING_BUSY = {
    name: query.with_for_update(skip_locked=True, key_share=True, of=User)
    for name, query in _RANKED.items()
}
#: Then, when every candidate was busy: wait for them rather than pool the lead.
_WAITING = {name: query.with_for_update(key_share=True, of=User) for name, query in _RANKED.items()}
_LEAD_OFFERS = LeadOffer.__table__  # type: ignore[attr-defined]
_LEADS = Lead.__table__  # type: ignore[attr-defined]
# Core INSERTs (`core.db.insert_returning`), for all the leads routed together: the ORM's
# unit of work cost more per row than the rest of the routing. Each new row comes back with
# its id and what tells it from the others: asked to keep the rows' order instead, SQLite
# inserts them one at a time.
_OFFER_KEY = (_LEAD_OFFERS.c.id, _LEAD_OFFERS.c.lead_id)
#: A new lead is told apart by its team and contacts (unique in a team).
_LEAD_KEY = (_LEADS.c.team_id, _LEADS.c.phone_e164, _LEADS.c.email)
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


@dataclass(frozen=True)
class Offer:
    """An offer as made: to a rep, or to the team's group (user_id None)."""

    id: int
    lead_id: int
    user_id: int | None
    chat_id: int
    deadline: datetime


@dataclass(frozen=True)
class ToRoute:
    """A lead to route, with its tags (a rule may match on them)."""

    lead: Lead
    tags: Collection[str] = ()
    #: Its phone as intake parsed it, if it did: the offer masks it without parsing it again.
    phone: Phone | None = None


@dataclass(frozen=True)
class _Plan:
    """What the first matching rule asks for: a strategy (and for to-user, the user)."""

    strategy: str
    user_id: int | None = None


#: Where a lead goes: (the rep, or None for the team's group; the chat), or None for the pool.
Target = tuple[int | None, int] | None


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
    lead_tags = await tags.of_lead(session, lead.id) if lead.id is not None else []
    (offer,) = await route_all(
        session,
        [ToRoute(lead, lead_tags)],
        team=team,
        now=now,
        exclude=exclude,
        group_first=group_first,
    )
    return offer


async def route_all(
    session: AsyncSession,
    leads: Sequence[ToRoute],
    *,
    team: Team,
    now: datetime,
    exclude: Collection[int] = (),
    group_first: bool = True,
    pushes: list[outbox.Message] | None = None,
) -> list[Offer | None]:
    """Route the team's leads in order, each as `route` would after the one before it.

    New leads (never written) are inserted here, routed; known ones are flushed. Returns
    each lead's offer, None for a lead put in the pool. The offers' and alerts' messages
    are queued, or added to `pushes` when given, for the caller to queue with its own rows.
    """
    if group_first and team.offer_mode == "group" and team.group_chat_id is not None:
        targets: list[Target] = [(None, team.group_chat_id)] * len(leads)
    else:
        targets = await _reps(session, leads, team, now, exclude)
    deadline = now + timedelta(seconds=team.claim_window_seconds)
    for item, target in zip(leads, targets, strict=True):
        _settle(item.lead, target, now, deadline)
    await save_all(session, [item.lead for item in leads])
    credited = [{"rep_id": target[0]} for target in targets if target and target[0] is not None]
    if credited:
        await session.exec(_CREDIT, params=credited)
    pooled = [item.lead for item, target in zip(leads, targets, strict=True) if target is None]
    messages = _pooled_alerts(pooled, await _managers(session, team, pooled), now)
    offers, offered = await _offer_all(session, leads, targets, team, now, deadline)
    messages += offered
    if pushes is None:
        await outbox.enqueue_all(session, messages)
    else:
        pushes += messages
    return offers


def _settle(lead: Lead, target: Target, now: datetime, deadline: datetime) -> None:
    """The lead's state for where it goes: offered with a deadline, or in the pool."""
    if target is None:
        lead.state, lead.owner_id, lead.claim_deadline = LeadState.POOL, None, None
        return
    lead.state, lead.owner_id = LeadState.OFFERED, target[0]
    lead.offered_at, lead.claim_deadline = now, deadline


async def _reps(
    session: AsyncSession,
    leads: Sequence[ToRoute],
    team: Team,
    now: datetime,
    exclude: Collection[int],
) -> list[Target]:
    """Each lead's rep by the first matching rule, turns taken one lead after another."""
    rules = (await session.exec(_RULES, params={"team_id": team.id})).all()
    plans = [_plan(rules, item) for item in leads]
    lead_ids = [item.lead.id for item in leads if item.lead.id is not None]
    ranked: dict[_Plan, list[Candidate]] = {}
    known: dict[int, Candidate] = {}  # one rep under two rules takes their turns once
    targets: list[Target] = []
    for plan in plans:
        if plan not in ranked:
            # n turns, under whichever rules, only ever go to the first n in a rule's order as
            # read: a rep further down is reached only once each of the n ahead took a turn
            # (credit and load grow with turns alone).
            found = await candidates(session, team, plan, now, exclude, lead_ids, len(leads))
            ranked[plan] = [known.setdefault(rep.id, rep) for rep in found]
        rep = next_turn(ranked[plan], plan.strategy)
        targets.append((rep.id, rep.telegram_id) if rep is not None else None)
    return targets


def next_turn(reps: list[Candidate], strategy: str) -> Candidate | None:
    """The rep whose turn it is among those below their cap; their turn is taken."""
    free = [rep for rep in reps if rep.cap is None or rep.load < rep.cap]
    if not free:
        return None
    rep = min(free, key=_TURNS[strategy].key)
    rep.take()
    return rep


async def candidates(
    session: AsyncSession,
    team: Team,
    plan: _Plan,
    now: datetime,
    exclude: Collection[int],
    lead_ids: Sequence[int],
    limit: int,
) -> list[Candidate]:
    """The first `limit` reps in the strategy's order who can take the leads now, locked."""
    params = {
        "team_id": team.id,
        "team_cap": team.max_open_leads,
        "lead_ids": list(lead_ids),
        "now": now,
        "exclude": list(exclude),
        "user_id": plan.user_id,
        "limit": limit,
    }
    passing_busy = _PASSING_BUSY[plan.strategy]
    rows = (await session.exec(passing_busy, params=params)).all()
    if not rows and (await session.exec(_WAITING[plan.strategy], params=params)).first():
        # A read that waited for a lock sees the row it locked anew, but not the leads the
        # other transaction offered meanwhile, so it may pass a rep who is now full. Its wait
        # is over: choosing again reads what that transaction committed.
        rows = (await session.exec(passing_busy, params=params)).all()
    return [Candidate(*row) for row in rows]


def _plan(rules: Sequence[RoutingRule], item: ToRoute) -> _Plan:
    for rule in rules:
        if _matches(rule, item):
            return _Plan(rule.strategy, rule.user_id if rule.strategy == "to-user" else None)
    return _Plan("round-robin")


def _matches(rule: RoutingRule, item: ToRoute) -> bool:
    if rule.match_field is None:
        return True
    value = (rule.match_value or "").casefold()
    lead = item.lead
    if rule.match_field == "source":
        return (lead.source or "").casefold() == value
    if rule.match_field == "region":
        return (lead.region or "").casefold() == value
    if rule.match_field == "tag":
        return value in {tag.casefold() for tag in item.tags}
    key = rule.match_field.removeprefix("profile.")
    return str(lead.profile.get(key, "")).casefold() == value


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


async def save_all(session: AsyncSession, leads: Sequence[Lead]) -> None:
    """Write the leads as routed. Those the ORM knows are flushed; new ones (transient: routed
    before their first write) are inserted here, in one statement, and get their ids."""
    new = [lead for lead in leads if sa.inspect(lead).transient]
    if len(new) < len(leads):
        await session.flush()
    if not new:
        return
    for lead in new:
        fold_name(lead)
    keys = [(lead.team_id, lead.phone_e164, lead.email) for lead in new]
    # Leads with no contact are not told apart by their key: those are written one by one.
    together = len(set(keys)) == len(keys)
    for batch in [new] if together else [[lead] for lead in new]:
        rows = [{key: getattr(lead, key) for key in _LEAD_COLUMNS} for lead in batch]
        added = await insert_returning(session, Rows(_LEADS, rows), (_LEADS.c.id, *_LEAD_KEY))
        ids = {tuple(key): lead_id for lead_id, *key in added}
        for lead in batch:
            lead.id = ids[(lead.team_id, lead.phone_e164, lead.email)]


async def _offer_all(
    session: AsyncSession,
    leads: Sequence[ToRoute],
    targets: Sequence[Target],
    team: Team,
    now: datetime,
    deadline: datetime,
) -> tuple[list[Offer | None], list[outbox.Message]]:
    """The offers' rows, for the leads that have a target, and their messages."""
    rows = [
        {
            "lead_id": item.lead.id,
            "user_id": target[0],
            "chat_id": target[1],
            "offered_at": now,
            "deadline": deadline,
            "outcome": "pending",
        }
        for item, target in zip(leads, targets, strict=True)
        if target is not None
    ]
    made = await insert_returning(session, Rows(_LEAD_OFFERS, rows), _OFFER_KEY)
    ids = {lead_id: offer_id for offer_id, lead_id in made}
    offers: list[Offer | None] = []
    messages = []
    for item, target in zip(leads, targets, strict=True):
        if target is None:
            offers.append(None)
            continue
        lead_id = item.lead.id or 0
        offer = Offer(ids[lead_id], lead_id, target[0], target[1], deadline)
        offers.append(offer)
        messages.append(
            outbox.Message(
                kind="lead_offer",
                chat_id=offer.chat_id,
                recipient_id=offer.user_id,
                params=offer_snapshot(item.lead, team, offer, item.phone),
                dedup_key=f"offer:{offer.id}",
            )
        )
    return offers, messages


def offer_snapshot(lead: Lead, team: Team, offer: Offer, phone: Phone | None) -> dict[str, object]:
    """What an offer may show before the lead is claimed: the contact stays masked."""
    return {
        "lead_id": lead.id,
        "offer_id": offer.id,
        "team_id": team.id,
        "name": lead.name,
        "source": lead.source,
        "phone": mask_number(phone.number) if phone else mask_phone(lead.phone_e164),
        "email": mask_email(lead.email),
        "profile": {key: str(value) for key, value in lead.profile.items()},
        "budget": str(lead.budget) if lead.budget is not None else None,
        "currency": lead.budget_currency,
        "deadline": offer.deadline.isoformat(),
        "group": offer.user_id is None,
    }


async def _managers(session: AsyncSession, team: Team, pooled: Sequence[Lead]) -> list[User]:
    """Who is told of leads put in the pool: the team's managers (none read if none was)."""
    return await teams.managers(session, team.id) if pooled else []


def _pooled_alerts(
    pooled: Sequence[Lead], managers: Sequence[User], now: datetime
) -> list[outbox.Message]:
    """Nobody could take these leads now: they wait in the pool and the managers are told."""
    return [
        outbox.Message(
            kind="lead_pooled",
            chat_id=manager.telegram_id,
            recipient_id=manager.id,
            params={"lead_id": lead.id, "lead_name": lead.name},
            dedup_key=f"pooled:{lead.id}:{manager.id}:{now.isoformat()}",
        )
        for lead in pooled
        for manager in managers
    ]
