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
from core.followups import hand_over_tasks
from core.models import (
    Channel,
    ClaimBlock,
    Lead,
    LeadOffer,
    LeadState,
    OutboxMessage,
    Role,
    Team,
    User,
)
from core.routing import load_and_cap, lock_rep, route

_BATCH = 100
#: How long before a stale lead goes back to the pool its owner is warned, at the least.
WARNING_NOTICE = timedelta(days=1)


async def claim(session: AsyncSession, *, actor: User, lead_id: int, now: datetime) -> Lead:
    """Take a lead offered to the actor, posted to their team's group, or waiting in the pool."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.team_id != actor.team_id or actor.role not in (Role.REP, Role.MANAGER):
        raise NotFound(f"lead {lead_id} not found", code="lead_not_found")
    team = await session.get_one(Team, lead.team_id)
    await _check_cooldown(session, actor, lead, now)
    already_theirs = lead.owner_id == actor.id
    offered = sa.and_(
        col(Lead.state) == LeadState.OFFERED,
        sa.or_(col(Lead.owner_id) == actor.id, col(Lead.owner_id).is_(None)),
        sa.or_(col(Lead.claim_deadline).is_(None), col(Lead.claim_deadline) > now),
    )
    result = await session.exec(
        update(Lead)
        .where(col(Lead.id) == lead_id, sa.or_(offered, col(Lead.state) == LeadState.POOL))
        .values(state=LeadState.OWNED, owner_id=actor.id, claimed_at=now, claim_deadline=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise await _refusal(session, lead, actor, now)
    if not already_theirs:  # offered to them, it counted towards their cap already
        await _check_cap(session, actor, team)
    await _close_offers(session, lead_id, "claimed", now)
    await hand_over_tasks(session, lead, to=actor, only_unassigned=True)
    audit.lead_changed(session, lead_id, "claim", actor=actor)
    await session.commit()
    await session.refresh(lead)
    return lead


async def _refusal(session: AsyncSession, lead: Lead, actor: User, now: datetime) -> Conflict:
    """Why a claim lost: its time ran out (the tick has not moved the lead yet), or someone
    else was first."""
    await session.refresh(lead)
    deadline = lead.claim_deadline
    if (
        lead.state == LeadState.OFFERED
        and lead.owner_id in (None, actor.id)
        and deadline is not None
        and deadline <= now
    ):
        return Conflict("the time to claim this lead has run out", code="offer_expired")
    return Conflict("someone else took this lead first", code="already_claimed")


async def _check_cooldown(session: AsyncSession, actor: User, lead: Lead, now: datetime) -> None:
    blocked = await session.exec(
        select(ClaimBlock.until).where(
            ClaimBlock.lead_id == lead.id, ClaimBlock.user_id == actor.id, ClaimBlock.until > now
        )
    )
    if blocked.first() is not None:
        raise Conflict(
            "you let this lead go recently: wait before claiming it again", code="cooling_down"
        )


async def _check_cap(session: AsyncSession, actor: User, team: Team) -> None:
    """After the claim's UPDATE, with the rep's row locked: two claims by one rep at once are
    counted one after the other, never both against the load before either."""
    await lock_rep(session, actor)
    load, cap = await load_and_cap(session, actor, team)
    if cap is not None and load > cap:
        await session.rollback()
        raise Conflict(f"you have {cap} open leads, the team's cap", code="cap_reached", cap=cap)


async def withdraw(session: AsyncSession, lead: Lead, now: datetime) -> None:
    """An offer that ends otherwise than by a claim or its deadline (a manager reassigns,
    releases or closes the lead; its rep leaves): its rows close, its deadline goes."""
    if lead.state == LeadState.OFFERED:
        await _close_offers(session, lead.id or 0, "withdrawn", now)
    lead.claim_deadline = None


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
    """Offers whose claim deadline passed go to the next rep by the same rules, then the pool;
    so do offers to a rep who has blocked the bot since (they would only wait out the clock)."""
    unreachable = select(User.id).where(col(User.reachable).is_(False))
    due = (
        await session.exec(
            select(Lead)
            .where(
                Lead.state == LeadState.OFFERED,
                sa.or_(col(Lead.claim_deadline) <= now, col(Lead.owner_id).in_(unreachable)),
            )
            .order_by(col(Lead.claim_deadline))
            .limit(_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for lead in due:
        offers = (await session.exec(select(LeadOffer).where(LeadOffer.lead_id == lead.id))).all()
        for offer in offers:
            if offer.user_id is None and offer.outcome == "pending":
                await _close_group_post(session, offer)
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


async def _close_group_post(session: AsyncSession, offer: LeadOffer) -> None:
    """Nobody in the group took the lead in time: the post loses its Claim button and says so
    (not posted yet, it is not posted at all)."""
    post = await outbox.recall(
        session, dedup_key=f"offer:{offer.id}", reason="the offer ended before it was posted"
    )
    if post is None or post.telegram_message_id is None:
        return
    await outbox.enqueue(
        session,
        kind="group_post_closed",
        chat_id=post.chat_id,
        params={**post.params, "message_id": post.telegram_message_id},
        dedup_key=f"closed:{offer.id}",
    )


async def return_stale(session: AsyncSession, now: datetime) -> None:
    """Leads without a follow-up for the team's stale days go back to the pool, but only once
    their owner was warned at least a day before."""
    for team in (await session.exec(select(Team))).all():
        due = now - timedelta(days=team.stale_days)
        leads = await _quiet_leads(session, team, since=due + WARNING_NOTICE)
        warned = await _warned_at(session, [_warning_key(lead) for lead in leads])
        for lead in leads:
            warned_at = warned.get(_warning_key(lead))
            if warned_at is None and lead.owner_id is not None:
                await _warn(session, lead, now)
            elif _quiet_since(lead) <= due and _notice_given(warned_at, now):
                await _return(session, lead, team, now)
    await session.commit()


def _notice_given(warned_at: datetime | None, now: datetime) -> bool:
    """The owner was warned long enough ago (a lead without an owner has nobody to warn)."""
    return warned_at is None or warned_at <= now - WARNING_NOTICE


async def _quiet_leads(session: AsyncSession, team: Team, *, since: datetime) -> list[Lead]:
    """The team's owned leads neither touched nor claimed after `since`, locked."""
    # Both orders make the later of touch and claim count: greatest() is PostgreSQL's only, and
    # SQLite's max() of a NULL is NULL.
    clocks = (
        sa.func.coalesce(col(Lead.last_touch_at), col(Lead.claimed_at), col(Lead.created_at)),
        sa.func.coalesce(col(Lead.claimed_at), col(Lead.last_touch_at), col(Lead.created_at)),
    )
    rows = await session.exec(
        select(Lead)
        .where(
            Lead.team_id == team.id,
            Lead.state == LeadState.OWNED,
            *(clock <= since for clock in clocks),
        )
        .with_for_update(skip_locked=True)
    )
    return list(rows.all())


def _quiet_since(lead: Lead) -> datetime:
    """The stale clock starts at the latest touch or claim (the creation, before either): a
    fresh claim of a lead touched long ago is not stale."""
    moments = [moment for moment in (lead.last_touch_at, lead.claimed_at) if moment is not None]
    return max(moments, default=lead.created_at)


def _warning_key(lead: Lead) -> str:
    """One warning per quiet spell: a touch or a claim starts a new one."""
    return f"stale:{lead.id}:{_quiet_since(lead).isoformat()}"


async def _warned_at(session: AsyncSession, keys: list[str]) -> dict[str, datetime]:
    """When each of these stale warnings was queued, by dedup key."""
    if not keys:
        return {}
    rows = await session.exec(select(OutboxMessage).where(col(OutboxMessage.dedup_key).in_(keys)))
    # The job's clock, kept in the row: created_at is the wall clock's.
    return {row.dedup_key: datetime.fromisoformat(row.params["warned_at"]) for row in rows.all()}


async def _return(session: AsyncSession, lead: Lead, team: Team, now: datetime) -> None:
    owner_id = lead.owner_id
    lead.state, lead.owner_id = LeadState.POOL, None
    if owner_id is not None:
        block_reclaim(session, lead=lead, user_id=owner_id, team=team, now=now)
    await hand_over_tasks(session, lead, to=None)
    audit.lead_changed(
        session,
        lead.id,
        "stale_return",
        actor=None,
        channel=Channel.SYSTEM,
        before={"owner_id": owner_id},
    )


async def _warn(session: AsyncSession, lead: Lead, now: datetime) -> None:
    owner = await session.get_one(User, lead.owner_id)
    await outbox.enqueue(
        session,
        kind="stale_warning",
        chat_id=owner.telegram_id,
        recipient_id=owner.id,
        params={"lead_id": lead.id, "lead_name": lead.name, "warned_at": now.isoformat()},
        dedup_key=_warning_key(lead),
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
