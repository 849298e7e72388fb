"""The outbox: every message the system sends on its own, as rows.

A service writes a row in the same transaction as the change that caused it; the bot's
dispatcher sends due rows and marks them sent only once Telegram answered ok. The unique dedup
key makes a job or a retried request that runs twice send nothing twice.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Rows, insert_together
from core.models import OutboxMessage, OutboxStatus, User, utcnow

#: How long a claimed row stays invisible to other dispatchers while it is being sent.
CLAIM_LEASE = timedelta(seconds=60)
#: After this many failed attempts (network errors) a message is given up.
MAX_ATTEMPTS = 8

_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]
_ROWS_ADDED = "leadloop.outbox_rows_added"
_listeners: list[Callable[[], None]] = []


def subscribe(listener: Callable[[], None]) -> None:
    """Call `listener` right after any commit that added outbox rows (to wake a dispatcher)."""
    _listeners.append(listener)


def unsubscribe(listener: Callable[[], None]) -> None:
    _listeners.remove(listener)


@sa.event.listens_for(Session, "after_commit")
def _wake_listeners(session: Session) -> None:
    if session.info.pop(_ROWS_ADDED, False):
        for listener in list(_listeners):
            listener()


@sa.event.listens_for(Session, "after_rollback")
def _forget_rows(session: Session) -> None:
    session.info.pop(_ROWS_ADDED, None)


@dataclass(frozen=True)
class Message:
    """A message to queue: its kind and params (rendered when sent), chat and dedup key."""

    kind: str
    chat_id: int
    params: dict[str, Any]
    dedup_key: str
    recipient_id: int | None = None
    not_before: datetime | None = None


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    chat_id: int,
    params: dict[str, Any],
    dedup_key: str,
    recipient_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue a message within the caller's transaction; a known dedup key is a no-op."""
    message = Message(kind, chat_id, params, dedup_key, recipient_id, not_before)
    await enqueue_all(session, [message])


async def enqueue_all(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Queue messages within the caller's transaction, in one statement; known dedup keys
    are skipped."""
    await insert_together(session, [queued(session, messages)])


def queued(session: AsyncSession, messages: Sequence[Message]) -> Rows:
    """The messages' rows, for the caller to write (`core.db.insert_together`) before it
    commits: the dispatcher is woken by that commit."""
    now = utcnow()
    rows = [
        {
            "kind": message.kind,
            "params": message.params,
            "chat_id": message.chat_id,
            "recipient_id": message.recipient_id,
            "dedup_key": message.dedup_key,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": message.not_before or now,
            "created_at": now,
        }
        for message in messages
    ]
    if rows:
        session.sync_session.info[_ROWS_ADDED] = True
    return Rows(_TABLE, rows, unique=("dedup_key",))


async def recall(session: AsyncSession, *, dedup_key: str, reason: str) -> OutboxMessage | None:
    """A message that no longer holds: still queued, it is never sent; sent, it is returned,
    so that the caller may queue an edit of it (None otherwise)."""
    query = select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key)
    row = (await session.exec(query)).first()
    if row is None or row.status == OutboxStatus.FAILED:
        return None
    if row.status == OutboxStatus.PENDING:
        row.status, row.last_error = OutboxStatus.FAILED, reason
        return None
    return row


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed row: what sending it needs. Not the ORM object: the sender holds hundreds of
    these, and an `OutboxMessage` with its ORM state took 4.6 KB where this takes 1.9 (most
    of it the params)."""

    id: int
    kind: str
    params: dict[str, Any]
    chat_id: int
    recipient_id: int | None
    attempts: int


#: Built once, like the other statements the sender runs for every message. One statement
#: claims: the earliest due rows are chosen (skipping rows another dispatcher has locked),
#: leased and returned.
_DUE_IDS = (
    sa.select(_TABLE.c.id)
    .where(
        _TABLE.c.status == OutboxStatus.PENDING,
        _TABLE.c.next_attempt_at <= sa.bindparam("now"),
    )
    .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(_TABLE)
    .where(_TABLE.c.id.in_(_DUE_IDS.scalar_subquery()))
    .values(attempts=_TABLE.c.attempts + 1, next_attempt_at=sa.bindparam("lease"))
    .returning(
        _TABLE.c.id,
        _TABLE.c.kind,
        _TABLE.c.params,
        _TABLE.c.chat_id,
        _TABLE.c.recipient_id,
        _TABLE.c.attempts,
    )
)


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[Due]:
    """Take up to `limit` due messages for sending, hidden from other dispatchers for a lease,
    in the order they were queued.

    On PostgreSQL concurrent dispatchers skip each other's locked rows; SQLite has one writer.
    """
    params = {"now": now, "limit": limit, "lease": now + CLAIM_LEASE}
    result = await session.exec(_CLAIM, params=params)
    rows = sorted((Due(*row) for row in result), key=lambda due: due.id)
    await session.commit()
    return rows


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending message falls due (None when nothing is pending)."""
    query = (
        select(OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(col(OutboxMessage.next_attempt_at))
        .limit(1)
    )
    return (await session.exec(query)).first()


@dataclass(frozen=True)
class Sent:
    """A message Telegram accepted: its row, Telegram's id for it, and when."""

    message_id: int
    telegram_message_id: int | None
    at: datetime


_MARK_SENT = (
    sa.update(_TABLE)
    .where(_TABLE.c.id == sa.bindparam("row_id"))
    .values(
        status=OutboxStatus.SENT,
        sent_at=sa.bindparam("at"),
        telegram_message_id=sa.bindparam("telegram_id"),
        last_error=None,
    )
)


async def mark_sent(session: AsyncSession, *, sent: list[Sent]) -> None:
    """Mark messages sent, several in one statement."""
    rows = [
        {"row_id": one.message_id, "at": one.at, "telegram_id": one.telegram_message_id}
        for one in sent
    ]
    await session.exec(_MARK_SENT, params=rows)
    await session.commit()


async def retry_later(session: AsyncSession, *, message_id: int, at: datetime, error: str) -> None:
    """Try again at `at`, or give up once the message has failed too often."""
    row = await session.get_one(OutboxMessage, message_id)
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = OutboxStatus.FAILED
    else:
        row.next_attempt_at = at
    await session.commit()


async def postpone(session: AsyncSession, *, message_id: int, at: datetime, error: str) -> None:
    """Try again at `at` without counting an attempt (Telegram asked us to slow down)."""
    row = await session.get_one(OutboxMessage, message_id)
    row.attempts = max(row.attempts - 1, 0)
    row.next_attempt_at = at
    row.last_error = error[:2000]
    await session.commit()


async def give_up_unreachable(session: AsyncSession, *, message_id: int, error: str) -> None:
    """The recipient blocked the bot: fail this message and stop pushing to them."""
    row = await session.get_one(OutboxMessage, message_id)
    row.status = OutboxStatus.FAILED
    row.last_error = error[:2000]
    if row.recipient_id is not None:
        user = await session.get_one(User, row.recipient_id)
        user.reachable = False
    await session.commit()


async def give_up(session: AsyncSession, *, message_id: int, error: str) -> None:
    """Fail the message for good: retrying cannot help (a 4xx answer, nothing to render)."""
    row = await session.get_one(OutboxMessage, message_id)
    row.status = OutboxStatus.FAILED
    row.last_error = error[:2000]
    await session.commit()
