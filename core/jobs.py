"""Scheduled jobs: plain functions of (session, now) that the scheduler calls on a fixed tick.

The database decides what is due, so a job run twice does nothing twice, and a run missed
during downtime is caught up by the next one.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from core.intake import forget_old_keys
from core.models import ConversationState, Invite, OutboxMessage, OutboxStatus
from core.offers import expire_offers, return_stale
from core.scoring import rescore_open_leads

#: How long sent messages, dead invites and abandoned conversations are kept.
RETENTION = timedelta(days=30)


async def prune(session: AsyncSession, now: datetime) -> None:
    """Forget what nobody needs any more: old sent messages, dead invites, stale conversations."""
    cutoff = now - RETENTION
    await session.exec(
        delete(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.SENT, col(OutboxMessage.sent_at) < cutoff
        )
    )
    await session.exec(delete(Invite).where(col(Invite.expires_at) < cutoff))
    await session.exec(delete(ConversationState).where(col(ConversationState.updated_at) < cutoff))
    await session.commit()


@dataclass(frozen=True)
class Job:
    id: str
    run: Callable[[AsyncSession, datetime], Awaitable[None]]
    every: timedelta


JOBS: tuple[Job, ...] = (
    Job(id="expire_offers", run=expire_offers, every=timedelta(seconds=5)),
    Job(id="return_stale", run=return_stale, every=timedelta(minutes=10)),
    Job(id="forget_old_keys", run=forget_old_keys, every=timedelta(hours=1)),
    Job(id="rescore", run=rescore_open_leads, every=timedelta(hours=1)),
    Job(id="prune", run=prune, every=timedelta(hours=1)),
)
