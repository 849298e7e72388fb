"""Where leads come from: webhook sources and the journal of every delivery received."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import Json, UTCDateTime, utcnow


class LeadSource(SQLModel, table=True):
    """A web form or sender with its endpoint name, secret and field mapping."""

    __tablename__ = "lead_sources"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(64), unique=True)
    kind: str = Field(sa_type=sa.String(16))
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    secret: str | None = Field(default=None, sa_type=sa.String(256))
    verify_token: str | None = Field(default=None, sa_type=sa.String(256))
    #: Which incoming field is the name, phone, email, comment, utm_* or a profile attribute.
    mapping: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    tags: list[str] = Field(default_factory=list, sa_type=Json)
    campaign: str | None = Field(default=None, sa_type=sa.String(200))
    #: Meta: the Page access token used to fetch a lead's fields from the Graph API.
    access_token: str | None = Field(default=None, sa_type=sa.String(512))
    #: Requests a second sustained, and the burst allowed on top.
    rate_per_second: float = Field(default=20.0)
    rate_burst: int = Field(default=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IntakeKey(SQLModel, table=True):
    """A delivery's idempotency key, remembered so that a redelivery creates nothing new."""

    __tablename__ = "intake_keys"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="lead_sources.id")
    key: str = Field(sa_type=sa.String(200))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    __table_args__ = (sa.UniqueConstraint("source_id", "key"),)


class WebhookDelivery(SQLModel, table=True):
    """The raw journal: every authenticated delivery, kept so that nothing received is lost."""

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    # Looked up by source through ix_deliveries_source_key, which starts with source_id.
    source_id: int = Field(foreign_key="lead_sources.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    headers: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    body: bytes = Field(sa_type=sa.LargeBinary)
    idempotency_key: str | None = Field(default=None, sa_type=sa.String(200))
    #: accepted, duplicate or rejected (with the reason in `error`).
    outcome: str = Field(sa_type=sa.String(16))
    error: str | None = Field(default=None, sa_type=sa.Text)
    lead_id: int | None = Field(default=None, foreign_key="leads.id")

    __table_args__ = (sa.Index("ix_deliveries_source_key", "source_id", "idempotency_key"),)
