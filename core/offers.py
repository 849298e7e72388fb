"""Claiming leads (an offer, a group race, the pool) and what happens when nobody does.

A claim is one conditional UPDATE: under any concurrency exactly one claimant wins. The
deadlines are rows; the scheduler's tick calls `expire_offers` and `return_stale`, which lock
the due rows with FOR UPDATE SKIP LOCKED on PostgreSQL, so two instances never move one lead.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, outbox
from core.errors import Conflict, NotFound
from core.models import (
    Channel,
    ClaimBlock,
    Lead,
    LeadOffer,
    LeadState,
    Role,
    Team,
    User,
)
from core.routing import load_and_cap, route

_BATCH = 100


async def claim(session: AsyncSession, *, actor: User, lead_id: int, now: datetime) -> Lead:
    """Take a lead offered to the actor, posted to their team's group, or waiting in the pool."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.team_id != actor.team_id or actor.role not in (Role.REP, Role.MANAGER):
        raise NotFound(f"lead {lead_id} not found", code="lead_not_found")
    team = await session.get_one(Team, lead.team_id)
    await _check_hoarding(session, actor, team, lead, now)
    offered_to_actor = sa.and_(col(Lead.state) == LeadState.OFFERED, col(Lead.owner_id) == actor.id)
    open_to_all = sa.or_(
        sa.and_(col(Lead.state) == LeadState.OFFERED, col(Lead.owner_id).is_(None)),
        col(Lead.state) == LeadState.POOL,
    )
    result = await session.exec(
        update(Lead)
        .where(col(Lead.id) == lead_id, sa.or_(offered_to_actor, open_to_all))
        .values(state=LeadState.OWNED, owner_id=actor.id, claimed_at=now, claim_deadline=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("someone else took this lead first", code="already_claimed")
    await _close_offers(session, lead_id, "claimed", now)
    audit.lead_changed(session, lead_id, "claim", actor=actor)
    await session.commit()
    await session.refresh(lead)
    return lead


async def _check_hoarding(
    session: AsyncSession, actor: User, team: Team, lead: Lead, now: datetime
) -> None:
    blocked = await session.exec(
        select(ClaimBlock.until).where(
            ClaimBlock.lead_id == lead.id, ClaimBlock.user_id == actor.id, ClaimBlock.until > now
        )
    )
    if blocked.first() is not None:
        raise Conflict(
            "you let this lead go recently: wait before claiming it again", code="cooling_down"
        )
    if lead.owner_id == actor.id:
        return  # already theirs: claiming it adds nothing to their load
    load, cap = await load_and_cap(session, actor, team)
    if cap is not None and load >= cap:
        raise Conflict(f"you have {load} open leads, the team's cap", code="cap_reached", cap=cap)


async def _close_offers(session: AsyncSession, lead_id: int, outcome: str, now: datetime) -> None:
    await session.exec(
        update(LeadOffer)
        .where(col(LeadOffer.lead_id) == lead_id, col(LeadOffer.outcome) == "pending")
        .values(outcome=outcome, closed_at=now)
    )


def block_reclaim(
    session: AsyncSession, *, lead: Lead, user_id: int, team: Team, now: datetime
) -> None:
    """The rep who let a lead go (or lost it) waits the team's cool-down to claim it again."""
    until = now + timedelta(seconds=team.reclaim_cooldown_seconds)
    session.add(ClaimBlock(lead_id=lead.id or 0, user_id=user_id, until=until))


async def expire_offers(session: AsyncSession, now: datetime) -> None:
    """Offers whose claim deadline passed go to the next rep by the same rules, then the pool."""
    due = (
        await session.exec(
            select(Lead)
            .where(Lead.state == LeadState.OFFERED, col(Lead.claim_deadline) <= now)
            .order_by(col(Lead.claim_deadline))
            .limit(_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for lead in due:
        offers = (await session.exec(select(LeadOffer).where(LeadOffer.lead_id == lead.id))).all()
        await _close_offers(session, lead.id or 0, "expired", now)
        team = await session.get_one(Team, lead.team_id)
        tried = {offer.user_id for offer in offers if offer.user_id is not None}
        await route(session, lead=lead, team=team, now=now, exclude=tried, group_first=False)
        audit.lead_changed(
            session,
            lead.id,
            "offer_expired",
            actor=None,
            channel=Channel.SYSTEM,
            after={"state": lead.state},
        )
    await session.commit()


async def return_stale(session: AsyncSession, now: datetime) -> None:
    """Leads untouched for the team's stale days go back to the pool; a day before, the
    owner is warned."""
    touched = sa.func.coalesce(col(Lead.last_touch_at), col(Lead.claimed_at), col(Lead.created_at))
    for team in (await session.exec(select(Team))).all():
        warn_after = now - timedelta(days=max(team.stale_days - 1, 0))
        rows = await session.exec(
            select(Lead, touched)
            .where(Lead.team_id == team.id, Lead.state == LeadState.OWNED, touched <= warn_after)
            .with_for_update(skip_locked=True)
        )
        for lead, last in rows.all():
            if last <= now - timedelta(days=team.stale_days):
                await _return(session, lead, team, now)
            elif lead.owner_id is not None:
                await _warn(session, lead, last)
    await session.commit()


async def _return(session: AsyncSession, lead: Lead, team: Team, now: datetime) -> None:
    owner_id = lead.owner_id
    lead.state, lead.owner_id = LeadState.POOL, None
    if owner_id is not None:
        block_reclaim(session, lead=lead, user_id=owner_id, team=team, now=now)
    audit.lead_changed(
        session,
        lead.id,
        "stale_return",
        actor=None,
        channel=Channel.SYSTEM,
        before={"owner_id": owner_id},
    )


async def _warn(session: AsyncSession, lead: Lead, last: datetime) -> None:
    owner = await session.get_one(User, lead.owner_id)
    await outbox.enqueue(
        session,
        kind="stale_warning",
        chat_id=owner.telegram_id,
        recipient_id=owner.id,
        params={"lead_id": lead.id, "lead_name": lead.name},
        dedup_key=f"stale:{lead.id}:{last.isoformat()}",
    )


async def pool(session: AsyncSession, *, actor: User, limit: int = 20) -> list[Lead]:
    """The team's pool, newest first."""
    if actor.team_id is None:
        return []
    rows = await session.exec(
        select(Lead)
        .where(Lead.team_id == actor.team_id, Lead.state == LeadState.POOL)
        .order_by(col(Lead.created_at).desc())
        .limit(limit)
    )
    return list(rows.all())
