"""Routing: which rep a new lead is offered to, the claim deadline, and where it goes next.

Rules of a team are tried in order and the first that matches the lead decides; a team
without rules has the default: round robin over its active reps on shift. Reps who are
inactive, off shift, unreachable, full (open-lead cap) or cooling down are skipped. No
candidate: the lead goes to the team's pool and every manager of the team is told.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from core import outbox
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

STRATEGIES = ("round-robin", "least-loaded", "to-user")
OPEN_STATES = (LeadState.OFFERED, LeadState.OWNED)
#: Reps read at a time when looking for the next one in turn who is below their cap.
_PAGE = 10


async def route(
    session: AsyncSession,
    *,
    lead: Lead,
    team: Team,
    now: datetime,
    exclude: Collection[int] = (),
    group_first: bool = True,
) -> LeadOffer | None:
    """Offer the lead (to the team's group, or a rep by the rules) or put it in the pool."""
    if group_first and team.offer_mode == "group" and team.group_chat_id is not None:
        return await _offer(session, lead, team, None, team.group_chat_id, now)
    rep = await pick(session, lead=lead, team=team, now=now, exclude=exclude)
    if rep is None:
        await to_pool(session, lead=lead, team=team, now=now)
        return None
    # Added in SQL, not in Python: two leads routed at once to the same rep both count.
    credit = col(User.route_credit) + 1 / max(rep.weight, 1)
    await session.exec(update(User).where(col(User.id) == rep.id).values(route_credit=credit))
    return await _offer(session, lead, team, rep, rep.telegram_id, now)


async def pick(
    session: AsyncSession, *, lead: Lead, team: Team, now: datetime, exclude: Collection[int]
) -> User | None:
    """The rep the first matching rule chooses among those who can take a lead now."""
    rule = await _first_match(session, await _rules(session, team), lead)
    eligible = _eligible(team, lead, now, exclude)
    if rule is not None and rule.strategy == "to-user":
        return await _first_not_full(session, team, eligible.where(User.id == rule.user_id))
    if rule is not None and rule.strategy == "least-loaded":
        return await _least_loaded(session, team, eligible)
    in_turn = eligible.order_by(col(User.route_credit), col(User.id))
    return await _first_not_full(session, team, in_turn)


async def _rules(session: AsyncSession, team: Team) -> Sequence[RoutingRule]:
    query = (
        select(RoutingRule)
        .where(RoutingRule.team_id == team.id)
        .order_by(col(RoutingRule.position), col(RoutingRule.id))
    )
    return (await session.exec(query)).all()


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


def _eligible(
    team: Team, lead: Lead, now: datetime, exclude: Collection[int]
) -> SelectOfScalar[User]:
    """Active, on-shift, reachable reps of the team, not excluded and not cooling down for
    the lead; whether they are full is checked on the few the caller looks at."""
    query = select(User).where(
        User.team_id == team.id,
        User.role == Role.REP,
        col(User.is_active),
        col(User.on_shift),
        col(User.reachable),
    )
    if exclude:
        query = query.where(col(User.id).not_in(list(exclude)))
    cooling = select(ClaimBlock.user_id).where(
        ClaimBlock.lead_id == lead.id, ClaimBlock.until > now
    )
    return query.where(col(User.id).not_in(cooling))


async def _first_not_full(
    session: AsyncSession, team: Team, ordered: SelectOfScalar[User]
) -> User | None:
    """The first rep of the ordered query below their open-lead cap.

    Reps are read a page at a time and loads are counted for capped reps of that page only:
    a lead costs one short query, not a read of the whole team.
    """
    offset = 0
    while True:
        page = list((await session.exec(ordered.limit(_PAGE).offset(offset))).all())
        capped = [rep.id or 0 for rep in page if _cap(rep, team) is not None]
        loads = await open_counts(session, capped) if capped else {}
        for rep in page:
            if not _full(rep, team, loads.get(rep.id or 0, 0)):
                return rep
        if len(page) < _PAGE:
            return None
        offset += _PAGE


async def _least_loaded(
    session: AsyncSession, team: Team, eligible: SelectOfScalar[User]
) -> User | None:
    """The rep with the fewest open leads per unit of weight (ties: the lowest id)."""
    reps = list((await session.exec(eligible)).all())
    loads = await open_counts(session, [rep.id or 0 for rep in reps])
    return min(
        (rep for rep in reps if not _full(rep, team, loads.get(rep.id or 0, 0))),
        key=lambda rep: (loads.get(rep.id or 0, 0) / max(rep.weight, 1), rep.id or 0),
        default=None,
    )


def _cap(rep: User, team: Team) -> int | None:
    return rep.max_open_leads or team.max_open_leads


def _full(rep: User, team: Team, load: int) -> bool:
    cap = _cap(rep, team)
    return cap is not None and load >= cap


async def open_counts(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    rows = await session.exec(
        select(Lead.owner_id, func.count())
        .where(col(Lead.owner_id).in_(user_ids), col(Lead.state).in_(OPEN_STATES))
        .group_by(col(Lead.owner_id))
    )
    return {owner: count for owner, count in rows.all() if owner is not None}


async def _offer(
    session: AsyncSession, lead: Lead, team: Team, rep: User | None, chat_id: int, now: datetime
) -> LeadOffer:
    deadline = now + timedelta(seconds=team.claim_window_seconds)
    lead.state, lead.owner_id = LeadState.OFFERED, rep.id if rep else None
    lead.offered_at, lead.claim_deadline = now, deadline
    await session.flush()  # a new lead gets its id here, inserted with its owner
    offer = LeadOffer(
        lead_id=lead.id or 0,
        user_id=rep.id if rep else None,
        chat_id=chat_id,
        offered_at=now,
        deadline=deadline,
    )
    session.add(offer)
    await session.flush()
    await outbox.enqueue(
        session,
        kind="lead_offer",
        chat_id=chat_id,
        recipient_id=rep.id if rep else None,
        params=offer_snapshot(lead, team, offer),
        dedup_key=f"offer:{offer.id}",
    )
    return offer


def offer_snapshot(lead: Lead, team: Team, offer: LeadOffer) -> dict[str, object]:
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
    await session.flush()  # a new lead gets its id here
    managers = await session.exec(
        select(User).where(User.team_id == team.id, User.role == Role.MANAGER, col(User.is_active))
    )
    for manager in managers:
        await outbox.enqueue(
            session,
            kind="lead_pooled",
            chat_id=manager.telegram_id,
            recipient_id=manager.id,
            params={"lead_id": lead.id, "lead_name": lead.name},
            dedup_key=f"pooled:{lead.id}:{manager.id}:{now.isoformat()}",
        )
