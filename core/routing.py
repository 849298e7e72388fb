"""Routing: which rep a new lead is offered to, the claim deadline, and where it goes next.

Rules of a team are tried in order and the first that matches the lead decides; a team
without rules has the default: round robin over its active reps on shift. Reps who are
inactive, off shift, unreachable, full (open-lead cap) or cooling down are skipped. No
candidate: the lead goes to the team's pool and every manager of the team is told.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

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
    rep.route_credit += 1 / max(rep.weight, 1)
    return await _offer(session, lead, team, rep, rep.telegram_id, now)


async def pick(
    session: AsyncSession, *, lead: Lead, team: Team, now: datetime, exclude: Collection[int]
) -> User | None:
    """The rep the first matching rule chooses among those who can take a lead now."""
    rules = (
        await session.exec(
            select(RoutingRule)
            .where(RoutingRule.team_id == team.id)
            .order_by(col(RoutingRule.position), col(RoutingRule.id))
        )
    ).all()
    rule = await _first_match(session, rules, lead)
    candidates = [
        rep
        for rep in await available_reps(session, team=team, now=now, lead=lead)
        if rep.id not in exclude
    ]
    if not candidates:
        return None
    strategy = rule.strategy if rule else "round-robin"
    if strategy == "to-user":
        return next((rep for rep in candidates if rule and rep.id == rule.user_id), None)
    if strategy == "least-loaded":
        loads = await open_counts(session, [rep.id or 0 for rep in candidates])
        return min(
            candidates,
            key=lambda rep: (loads.get(rep.id or 0, 0) / max(rep.weight, 1), rep.id or 0),
        )
    return min(candidates, key=lambda rep: (rep.route_credit, rep.id or 0))


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


async def available_reps(
    session: AsyncSession, *, team: Team, now: datetime, lead: Lead | None = None
) -> list[User]:
    """Active, on-shift, reachable reps of the team below their cap and not cooling down."""
    reps = list(
        (
            await session.exec(
                select(User)
                .where(
                    User.team_id == team.id,
                    User.role == Role.REP,
                    col(User.is_active),
                    col(User.on_shift),
                    col(User.reachable),
                )
                .order_by(col(User.id))
            )
        ).all()
    )
    loads = await open_counts(session, [rep.id or 0 for rep in reps])
    blocked = await _blocked(session, lead, now) if lead is not None else set()
    return [
        rep
        for rep in reps
        if rep.id not in blocked and not _full(rep, team, loads.get(rep.id or 0, 0))
    ]


def _full(rep: User, team: Team, load: int) -> bool:
    cap = rep.max_open_leads or team.max_open_leads
    return cap is not None and load >= cap


async def open_counts(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    rows = await session.exec(
        select(Lead.owner_id, func.count())
        .where(col(Lead.owner_id).in_(user_ids), col(Lead.state).in_(OPEN_STATES))
        .group_by(col(Lead.owner_id))
    )
    return {owner: count for owner, count in rows.all() if owner is not None}


async def _blocked(session: AsyncSession, lead: Lead, now: datetime) -> set[int]:
    rows = await session.exec(
        select(ClaimBlock.user_id).where(ClaimBlock.lead_id == lead.id, ClaimBlock.until > now)
    )
    return set(rows.all())


async def _offer(
    session: AsyncSession, lead: Lead, team: Team, rep: User | None, chat_id: int, now: datetime
) -> LeadOffer:
    deadline = now + timedelta(seconds=team.claim_window_seconds)
    lead.state, lead.owner_id = LeadState.OFFERED, rep.id if rep else None
    lead.offered_at, lead.claim_deadline = now, deadline
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
