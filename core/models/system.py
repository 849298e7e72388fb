"""The machinery: the outbox of messages to send, bot conversation state, the audit log."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import (
    Channel,
    Json,
    OutboxStatus,
    UTCDateTime,
    enum_check,
    utcnow,
)


class OutboxMessage(SQLModel, table=True):
    """A message the system sends on its own, written in the same transaction as its cause.

    It holds a kind and parameters, not text: the bot renders it at send time in the language
    and time zone of whoever reads it.
    """

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=sa.String(64))
    params: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    chat_id: int = Field(sa_type=sa.BigInteger)
    #: The user who reads it, when the chat is a person's: their locale and time zone apply.
    recipient_id: int | None = Field(default=None, foreign_key="users.id")
    #: Unique, so that a job or a retried request that runs twice sends nothing twice.
    dedup_key: str = Field(sa_type=sa.String(200), unique=True)
    status: str = Field(default=OutboxStatus.PENDING, sa_type=sa.String(16))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    telegram_message_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_error: str | None = Field(default=None, sa_type=sa.Text)

    __table_args__ = (
        enum_check("status", OutboxStatus),
        sa.Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
    )


class ConversationState(SQLModel, table=True):
    """A bot conversation's step and data, so a half-finished entry survives restarts."""

    __tablename__ = "conversation_state"

    key: str = Field(sa_type=sa.String(200), primary_key=True)
    state: str | None = Field(default=None, sa_type=sa.String(200))
    data: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who changed what, from what to what, and through which way in."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    channel: str = Field(sa_type=sa.String(16))
    entity: str = Field(sa_type=sa.String(32))
    entity_id: int | None = Field(default=None)
    action: str = Field(sa_type=sa.String(32))
    before: dict[str, Any] | None = Field(default=None, sa_type=Json)
    after: dict[str, Any] | None = Field(default=None, sa_type=Json)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        enum_check("channel", Channel),
        sa.Index("ix_audit_entity", "entity", "entity_id"),
    )
