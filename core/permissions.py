"""Who may see and change which lead: enforced here, per record, for every way in.

A rep sees own leads and the team's pool; a manager the team; finance everyone's (to follow
contracts and payments) but edits no customer data; an admin everything. A lead the actor
may not see is reported as not found, so that a forged id reveals nothing.
"""

import sqlalchemy as sa
from sqlmodel import col, false, true
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import Forbidden, NotFound
from core.models import Lead, LeadState, Role, User


def visible_leads(actor: User) -> sa.ColumnElement[bool]:
    """A WHERE condition: the leads the actor may see."""
    if actor.role in (Role.ADMIN, Role.FINANCE):
        return true()
    if actor.team_id is None:
        return false()
    if actor.role == Role.MANAGER:
        return col(Lead.team_id) == actor.team_id
    return sa.or_(
        col(Lead.owner_id) == actor.id,
        sa.and_(col(Lead.team_id) == actor.team_id, col(Lead.state) == LeadState.POOL),
    )


def may_see(actor: User, lead: Lead) -> bool:
    if actor.role in (Role.ADMIN, Role.FINANCE):
        return True
    if actor.role == Role.MANAGER:
        return lead.team_id == actor.team_id
    in_pool = lead.team_id == actor.team_id and lead.state == LeadState.POOL
    return lead.owner_id == actor.id or in_pool


def may_edit(actor: User, lead: Lead) -> bool:
    """May change the customer's data and the lead's course.

    A rep a lead is only offered to must claim it first: until then its contact stays masked
    and the claim deadline, not an edit, decides whose it is.
    """
    if actor.role == Role.ADMIN:
        return True
    if actor.role == Role.MANAGER:
        return lead.team_id == actor.team_id
    owns = lead.owner_id == actor.id and lead.state != LeadState.OFFERED
    return actor.role == Role.REP and owns


def is_manager_of(actor: User, team_id: int | None) -> bool:
    return actor.role == Role.ADMIN or (actor.role == Role.MANAGER and actor.team_id == team_id)


async def lead_for(session: AsyncSession, actor: User, lead_id: int, *, edit: bool = False) -> Lead:
    """The lead, if the actor may see it (and, with `edit`, change it)."""
    lead = await session.get(Lead, lead_id)
    if lead is None or not may_see(actor, lead):
        raise NotFound(f"lead {lead_id} not found", code="lead_not_found", lead_id=lead_id)
    if edit and not may_edit(actor, lead):
        raise Forbidden(f"you may not change lead {lead_id}", lead_id=lead_id)
    return lead
