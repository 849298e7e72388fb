"""Leads and what happens to them: tags, stage history, follow-ups, tasks, attachments."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import Grade, Json, LeadState, Money, UTCDateTime, enum_check, utcnow


class Lead(SQLModel, table=True):
    __tablename__ = "leads"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    name: str = Field(sa_type=sa.String(200))
    #: The name case-folded in Python, for search: SQLite's LOWER() knows only ASCII.
    name_folded: str = Field(default="", sa_type=sa.String(200))
    phone_raw: str | None = Field(default=None, sa_type=sa.String(64))
    phone_e164: str | None = Field(default=None, sa_type=sa.String(20))
    #: False when phonenumbers says the number is possible but not valid: kept, but flagged.
    phone_valid: bool = Field(default=True)
    email: str | None = Field(default=None, sa_type=sa.String(254), index=True)
    source: str | None = Field(default=None, sa_type=sa.String(64))
    campaign: str | None = Field(default=None, sa_type=sa.String(200))
    utm_source: str | None = Field(default=None, sa_type=sa.String(200))
    utm_medium: str | None = Field(default=None, sa_type=sa.String(200))
    utm_campaign: str | None = Field(default=None, sa_type=sa.String(200))
    utm_term: str | None = Field(default=None, sa_type=sa.String(200))
    utm_content: str | None = Field(default=None, sa_type=sa.String(200))
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    state: str = Field(default=LeadState.POOL, sa_type=sa.String(16))
    stage: str = Field(sa_type=sa.String(32))
    grade: str | None = Field(default=None, sa_type=sa.String(1))
    score: int = Field(default=0)
    budget: Decimal | None = Field(default=None, sa_type=Money)
    budget_currency: str | None = Field(default=None, sa_type=sa.String(3))
    region: str | None = Field(default=None, sa_type=sa.String(100))
    #: Free attributes of the team's industry preset: house type, rooms, budget range, purpose…
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=Json)
    birthday: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_deadline: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_touch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_action_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lost_reason: str | None = Field(default=None, sa_type=sa.String(500))

    __table_args__ = (
        enum_check("state", LeadState),
        enum_check("grade", Grade, nullable=True),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name="budget_not_negative"),
        sa.Index("ix_leads_owner_state_next_action", "owner_id", "state", "next_action_at"),
        sa.Index("ix_leads_phone_e164", "phone_e164"),
        # Dedup held by the database: concurrent deliveries for one person cannot both insert.
        sa.Index(
            "uq_leads_team_phone",
            "team_id",
            "phone_e164",
            unique=True,
            sqlite_where=sa.text("phone_e164 IS NOT NULL"),
            postgresql_where=sa.text("phone_e164 IS NOT NULL"),
        ),
        sa.Index(
            "uq_leads_team_email",
            "team_id",
            "email",
            unique=True,
            sqlite_where=sa.text("email IS NOT NULL"),
            postgresql_where=sa.text("email IS NOT NULL"),
        ),
    )


class Tag(SQLModel, table=True):
    __tablename__ = "tags"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id")
    name: str = Field(sa_type=sa.String(64))

    __table_args__ = (sa.UniqueConstraint("team_id", "name"),)


class LeadTag(SQLModel, table=True):
    __tablename__ = "lead_tags"

    lead_id: int = Field(foreign_key="leads.id", primary_key=True, ondelete="CASCADE")
    tag_id: int = Field(foreign_key="tags.id", primary_key=True, ondelete="CASCADE")


class StageChange(SQLModel, table=True):
    __tablename__ = "stage_changes"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True, ondelete="CASCADE")
    from_stage: str | None = Field(default=None, sa_type=sa.String(32))
    to_stage: str = Field(sa_type=sa.String(32))
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Activity(SQLModel, table=True):
    """A follow-up record: a call, visit, chat or meeting with the customer."""

    __tablename__ = "activities"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True, ondelete="CASCADE")
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    channel: str = Field(sa_type=sa.String(16))
    summary: str = Field(default="", sa_type=sa.Text)
    #: How the customer's interest moved: up, same or down.
    intent: str | None = Field(default=None, sa_type=sa.String(8))
    next_step: str | None = Field(default=None, sa_type=sa.String(500))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Task(SQLModel, table=True):
    """An item of a lead's follow-up plan, with its due time and reminder marks."""

    __tablename__ = "tasks"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True, ondelete="CASCADE")
    assignee_id: int | None = Field(default=None, foreign_key="users.id")
    title: str = Field(sa_type=sa.String(500))
    due_at: datetime = Field(sa_type=UTCDateTime)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (sa.Index("ix_tasks_assignee_due", "assignee_id", "done_at", "due_at"),)


class Attachment(SQLModel, table=True):
    """A photo or document on a lead, kept as Telegram file ids (the bytes stay in Telegram)."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True, ondelete="CASCADE")
    kind: str = Field(sa_type=sa.String(16))
    file_id: str = Field(sa_type=sa.String(255))
    file_unique_id: str = Field(sa_type=sa.String(64))
    file_name: str | None = Field(default=None, sa_type=sa.String(255))
    caption: str | None = Field(default=None, sa_type=sa.String(1024))
    uploaded_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_FOLDED_CHARS = Lead.__table__.c.name_folded.type.length  # type: ignore[attr-defined]


def fold_name(lead: Lead) -> None:
    """Keep the case-folded name that search compares with (SQLite's LOWER() knows only ASCII).

    The ORM does it before every INSERT and UPDATE; a Core INSERT of a lead calls it itself.
    """
    # Folding may lengthen a name ("ß" is "ss"), past what the column holds.
    lead.name_folded = lead.name.casefold()[:_FOLDED_CHARS]


#: The model's defaults, for `unsaved_lead`: values, and factories called per lead.
_DEFAULTS = {
    name: field.default
    for name, field in Lead.model_fields.items()
    if not field.is_required() and field.default_factory is None
}
_DEFAULT_FACTORIES = {
    name: field.default_factory
    for name, field in Lead.model_fields.items()
    if field.default_factory is not None
}


def unsaved_lead(**values: Any) -> Lead:
    """A new lead with the column values `Lead(**values)` would have, at a twentieth of the
    cost, for a lead written with a Core INSERT (never added to a session).

    Built as SQLAlchemy builds a lead it loads (`new_instance`: no `__init__`, whose
    attribute-by-attribute set-up through SQLModel and SQLAlchemy took ~150 µs, more than
    the rest of a web form lead's intake), with the model's defaults. Table models validate
    nothing in `__init__` either; a test holds their values equal. Unlike `Lead(...)` it
    records no attribute as set or changed (the ORM would see nothing to write).
    """
    sa.orm.configure_mappers()  # as `Lead(...)` does: a first lead may come before any query
    lead: Lead = Lead._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    fields = dict(_DEFAULTS)
    for name, factory in _DEFAULT_FACTORIES.items():
        fields[name] = factory()  # type: ignore[call-arg]
    fields.update(values)
    lead.__dict__.update(fields)
    return lead


@sa.event.listens_for(Lead, "before_insert")
@sa.event.listens_for(Lead, "before_update")
def _fold_name(_mapper: Any, _connection: Any, lead: Lead) -> None:
    fold_name(lead)
