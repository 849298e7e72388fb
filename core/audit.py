"""The audit log: who changed what, from what to what, and through which way in."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import AuditEntry, Channel, User


def record(
    session: AsyncSession,
    *,
    actor: User | None,
    channel: Channel,
    entity: str,
    entity_id: int | None,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the session; it commits with the change it describes."""
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            channel=channel,
            entity=entity,
            entity_id=entity_id,
            action=action,
            before=before,
            after=after,
        )
    )


def lead_changed(
    session: AsyncSession,
    lead_id: int | None,
    action: str,
    *,
    actor: User | None,
    channel: Channel = Channel.BOT,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An audit entry about a lead (the most common kind)."""
    record(
        session,
        actor=actor,
        channel=channel,
        entity="lead",
        entity_id=lead_id,
        action=action,
        before=before,
        after=after,
    )
