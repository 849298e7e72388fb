"""Who gets a new lead: assignment rules, offers with claim deadlines, re-claim cool-downs."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import UTCDateTime, utcnow


class RoutingRule(SQLModel, table=True):
    """One assignment rule of a team; rules are tried by position, the first match wins."""

    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    position: int = Field(default=0)
    #: source, region, tag or profile.<key>; None matches every lead.
    match_field: str | None = Field(default=None, sa_type=sa.String(64))
    match_value: str | None = Field(default=None, sa_type=sa.String(200))
    #: round-robin, least-loaded or to-user.
    strategy: str = Field(default="round-robin", sa_type=sa.String(16))
    user_id: int | None = Field(default=None, foreign_key="users.id")

    __table_args__ = (
        sa.CheckConstraint(
            "strategy IN ('round-robin', 'least-loaded', 'to-user')", name="strategy_valid"
        ),
    )


class LeadOffer(SQLModel, table=True):
    """A lead offered to a rep (or to the team's group) until a claim deadline."""

    __tablename__ = "lead_offers"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True, ondelete="CASCADE")
    #: The rep it was offered to; None for a group offer (first tap wins).
    user_id: int | None = Field(default=None, foreign_key="users.id")
    chat_id: int = Field(sa_type=sa.BigInteger)
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deadline: datetime = Field(sa_type=UTCDateTime)
    #: pending, claimed, expired or withdrawn.
    outcome: str = Field(default="pending", sa_type=sa.String(16))
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The offer message in Telegram, so a group offer can be edited to show who took it.
    message_id: int | None = Field(default=None, sa_type=sa.BigInteger)

    __table_args__ = (sa.Index("ix_lead_offers_outcome_deadline", "outcome", "deadline"),)


class ClaimBlock(SQLModel, table=True):
    """Anti-hoarding: a rep may not re-claim this lead before `until`."""

    __tablename__ = "claim_blocks"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id")
    until: datetime = Field(sa_type=UTCDateTime)

    __table_args__ = (sa.Index("ix_claim_blocks_lead_user", "lead_id", "user_id"),)
