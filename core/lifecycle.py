"""Where a lead stands: released to the pool, lost, reopened, or handed to another rep."""

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, outbox
from core.errors import Forbidden, InvalidInput, NotFound
from core.followups import hand_over_tasks
from core.models import Channel, Lead, LeadState, Role, Team, User
from core.offers import block_reclaim, withdraw
from core.permissions import is_manager_of, lead_for


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("give a reason of 1 to 500 characters", code="reason_invalid")
    return reason


async def release(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    reason: str,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Lead:
    """Give an open lead back to the team's pool, with the reason why."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if lead.state not in (LeadState.OWNED, LeadState.OFFERED):
        raise InvalidInput("only an open lead can go to the pool", code="not_open")
    before = {"owner_id": lead.owner_id, "state": lead.state}
    if lead.owner_id is not None:
        team = await session.get_one(Team, lead.team_id)
        block_reclaim(session, lead=lead, user_id=lead.owner_id, team=team, now=now)
    await withdraw(session, lead, now)
    lead.owner_id, lead.state = None, LeadState.POOL
    await hand_over_tasks(session, lead, to=None)
    audit.lead_changed(
        session,
        lead.id,
        "release",
        actor=actor,
        channel=channel,
        before=before,
        after={"owner_id": None, "state": lead.state, "reason": _reason(reason)},
    )
    lead.last_touch_at = now
    await session.commit()
    return lead


async def mark_lost(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    reason: str,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Lead:
    """Close the lead as lost; it stays findable and can be reopened."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if lead.state == LeadState.ARCHIVED:
        raise InvalidInput("this lead is closed already", code="already_closed")
    lead.lost_reason = _reason(reason)
    before = {"state": lead.state}
    await withdraw(session, lead, now)
    lead.state, lead.next_action_at, lead.last_touch_at = LeadState.ARCHIVED, None, now
    audit.lead_changed(
        session,
        lead.id,
        "lost",
        actor=actor,
        channel=channel,
        before=before,
        after={"state": lead.state, "reason": lead.lost_reason},
    )
    await session.commit()
    return lead


async def reopen(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Lead:
    """Bring a lost lead back; a rep who reopens it owns it."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if lead.state != LeadState.ARCHIVED:
        raise InvalidInput("only a lost lead can be reopened", code="not_lost")
    if actor.role == Role.REP or lead.owner_id is None:
        lead.owner_id = actor.id
    lead.state, lead.lost_reason, lead.last_touch_at = LeadState.OWNED, None, now
    audit.lead_changed(
        session,
        lead.id,
        "reopen",
        actor=actor,
        channel=channel,
        after={"state": lead.state, "owner_id": lead.owner_id},
    )
    await session.commit()
    return lead


async def reassign_choices(
    session: AsyncSession, *, actor: User, lead_id: int
) -> tuple[Lead, list[User]]:
    """The lead a manager wants to hand over, and the team's other active reps who could take it."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if not is_manager_of(actor, lead.team_id):
        raise Forbidden("only a manager reassigns leads", code="managers_only")
    reps = await session.exec(
        select(User)
        .where(
            User.team_id == lead.team_id,
            User.role == Role.REP,
            col(User.is_active),
            col(User.id).is_distinct_from(lead.owner_id),
        )
        .order_by(col(User.on_shift).desc(), col(User.display_name), col(User.id))
    )
    return lead, list(reps.all())


async def reassign(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    to_user_id: int,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Lead:
    """A manager hands a lead to another active rep of the team, who is told."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if not is_manager_of(actor, lead.team_id):
        raise Forbidden("only a manager reassigns leads", code="managers_only")
    heir = await session.get(User, to_user_id)
    if heir is None or not heir.is_active or heir.team_id != lead.team_id:
        raise NotFound("no active member of this team with that id", code="user_not_found")
    before = {"owner_id": lead.owner_id, "state": lead.state}
    if lead.owner_id is not None and lead.owner_id != heir.id:
        team = await session.get_one(Team, lead.team_id)
        block_reclaim(session, lead=lead, user_id=lead.owner_id, team=team, now=now)
    await withdraw(session, lead, now)
    lead.owner_id = heir.id
    if lead.state != LeadState.ARCHIVED:
        lead.state = LeadState.OWNED
    await hand_over_tasks(session, lead, to=heir)
    audit.lead_changed(
        session,
        lead.id,
        "reassign",
        actor=actor,
        channel=channel,
        before=before,
        after={"owner_id": heir.id, "state": lead.state},
    )
    await outbox.enqueue(
        session,
        kind="lead_assigned",
        chat_id=heir.telegram_id,
        recipient_id=heir.id,
        params={"lead_id": lead.id, "lead_name": lead.name, "by": actor.display_name},
        dedup_key=f"assign:{lead.id}:{heir.id}:{now.isoformat()}",
    )
    await session.commit()
    return lead
