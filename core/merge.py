"""Merging two records of one customer, and reading a lead's audit trail."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, tags
from core.errors import Forbidden, InvalidInput
from core.models import (
    Activity,
    Attachment,
    AuditEntry,
    Channel,
    Lead,
    LeadTag,
    StageChange,
    Task,
    User,
)
from core.permissions import is_manager_of, lead_for

#: Fields the kept lead takes from the merged one when it has none of its own.
_FILLABLE = (
    "phone_raw",
    "phone_e164",
    "email",
    "budget",
    "budget_currency",
    "region",
    "birthday",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)


async def preview(
    session: AsyncSession, *, actor: User, keep_id: int, drop_id: int
) -> tuple[Lead, Lead]:
    """The two leads a merge would fold together, checked as the merge itself checks them."""
    keep = await lead_for(session, actor, keep_id, edit=True)
    drop = await lead_for(session, actor, drop_id, edit=True)
    if not is_manager_of(actor, keep.team_id) or keep.team_id != drop.team_id:
        raise Forbidden("a manager merges two leads of the team", code="managers_only")
    if keep.id == drop.id:
        raise InvalidInput("pick two different leads", code="same_lead")
    return keep, drop


async def merge(
    session: AsyncSession, *, actor: User, keep_id: int, drop_id: int, now: datetime
) -> Lead:
    """Fold lead `drop_id` into `keep_id`: activities, tasks, history, files and tags move over."""
    keep, drop = await preview(session, actor=actor, keep_id=keep_id, drop_id=drop_id)
    before = {"drop": {"id": drop.id, "name": drop.name, "phone": drop.phone_e164}}
    for child in (Activity, Task, StageChange, Attachment):
        await session.exec(
            update(child).where(col(child.lead_id) == drop.id).values(lead_id=keep.id)
        )
    await tags.attach(session, keep, await tags.of_lead(session, drop.id or 0))
    await session.exec(delete(LeadTag).where(col(LeadTag.lead_id) == drop.id))
    # The dropped lead goes first: its phone and email are unique in the team.
    inherited = {field: getattr(drop, field) for field in _FILLABLE}
    profile, last_touch = drop.profile, drop.last_touch_at
    await session.delete(drop)
    await session.flush()
    for field, value in inherited.items():
        if getattr(keep, field) is None and value is not None:
            setattr(keep, field, value)
    keep.profile = {**profile, **keep.profile}
    keep.last_touch_at = max(filter(None, (keep.last_touch_at, last_touch, now)))
    audit.lead_changed(
        session,
        keep.id,
        "merge",
        actor=actor,
        channel=Channel.BOT,
        before=before,
        after={"kept": keep.id},
    )
    await session.commit()
    return keep


@dataclass(frozen=True)
class HistoryLine:
    entry: AuditEntry
    actor_name: str | None
    #: Names of the owners before and after, for entries that change the owner.
    owners: tuple[str | None, str | None] = (None, None)


async def lead_history(
    session: AsyncSession, *, actor: User, lead_id: int, limit: int = 30, offset: int = 0
) -> list[HistoryLine]:
    """The newest changes of a lead (skipping the `offset` newest), for its team's managers."""
    lead = await lead_for(session, actor, lead_id)
    if not is_manager_of(actor, lead.team_id):
        raise Forbidden("the audit trail is for managers", code="managers_only")
    rows = (
        await session.exec(
            select(AuditEntry, User.display_name)
            .join(User, col(User.id) == AuditEntry.actor_id, isouter=True)
            .where(AuditEntry.entity == "lead", AuditEntry.entity_id == lead_id)
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    names = await _owner_names(session, [entry for entry, _ in rows])
    return [
        HistoryLine(entry, name, (names.get(_owner(entry.before)), names.get(_owner(entry.after))))
        for entry, name in rows
    ]


def _owner(values: dict[str, Any] | None) -> int | None:
    owner = (values or {}).get("owner_id")
    return owner if isinstance(owner, int) else None


async def _owner_names(session: AsyncSession, entries: list[AuditEntry]) -> dict[int, str]:
    ids = {_owner(entry.before) for entry in entries} | {_owner(entry.after) for entry in entries}
    ids.discard(None)
    if not ids:
        return {}
    rows = await session.exec(select(User.id, User.display_name).where(col(User.id).in_(ids)))
    return {user_id: name for user_id, name in rows.all() if user_id is not None}
