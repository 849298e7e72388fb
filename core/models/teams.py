"""Teams, the people in them, and invitations to join."""

from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import Json, Role, UTCDateTime, enum_check, utcnow


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True)
    #: ISO 3166 region, the default for phone numbers written without a country code.
    country: str = Field(sa_type=sa.String(2))
    timezone: str = Field(default="UTC", sa_type=sa.String(64))
    currency: str = Field(default="USD", sa_type=sa.String(3))
    locale: str = Field(default="en", sa_type=sa.String(16))
    preset: str = Field(default="generic", sa_type=sa.String(32))
    claim_window_seconds: int = Field(default=15 * 60)
    stale_days: int = Field(default=30)
    digest_time: time = Field(default=time(9, 0))
    manager_chat_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    #: direct: offered to one rep at a time; group: posted to the team's group, first tap wins.
    offer_mode: str = Field(default="direct", sa_type=sa.String(16))
    group_chat_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    #: Anti-hoarding: at most this many open leads a rep (None: no cap).
    max_open_leads: int | None = Field(default=None)
    #: Anti-hoarding: a rep waits this long before re-claiming a lead they let go.
    reclaim_cooldown_seconds: int = Field(default=24 * 3600)
    #: Lead scoring weights; missing keys take core.scoring's defaults.
    score_weights: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("claim_window_seconds > 0", name="claim_window_positive"),
        sa.CheckConstraint("stale_days > 0", name="stale_days_positive"),
    )


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=sa.BigInteger, unique=True)
    display_name: str = Field(sa_type=sa.String(100))
    role: str = Field(sa_type=sa.String(16))
    # Looked up by team through ix_users_team_route_credit, which starts with team_id.
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    #: The language the user chose with /lang; None means "derive it" (Telegram, then team).
    locale: str | None = Field(default=None, sa_type=sa.String(16))
    #: The language Telegram last reported for the user, for pushes sent outside an update.
    telegram_locale: str | None = Field(default=None, sa_type=sa.String(16))
    timezone: str | None = Field(default=None, sa_type=sa.String(64))
    is_active: bool = Field(default=True)
    on_shift: bool = Field(default=True)
    max_open_leads: int | None = Field(default=None)
    #: False once Telegram answered 403 (the user blocked the bot): pushes stop until they return.
    reachable: bool = Field(default=True)
    #: Routing: a rep of weight 2 gets twice the leads of weight 1 in a round robin.
    weight: int = Field(default=1)
    #: Weighted round robin: grows by 1/weight at each offer; the lowest is next.
    route_credit: float = Field(default=0.0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        enum_check("role", Role),
        # Routing reads a team's reps in turn order and stops at the first who can take a lead.
        sa.Index("ix_users_team_route_credit", "team_id", "route_credit", "id"),
    )


class Invite(SQLModel, table=True):
    """A one-time token that binds the Telegram account that opens it to a new user."""

    __tablename__ = "invites"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(sa_type=sa.String(64), unique=True)
    role: str = Field(sa_type=sa.String(16))
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    display_name: str | None = Field(default=None, sa_type=sa.String(100))
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by_id: int | None = Field(default=None, foreign_key="users.id")

    __table_args__ = (enum_check("role", Role),)
