"""Column types and enumerations shared by every table."""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zones, so values are stored there as naive UTC and get their zone back
    on load; PostgreSQL keeps them as `timestamptz`.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Money: exact decimals, never floats. Four places cover every ISO 4217 currency.
Money = sa.Numeric(18, 4, asdecimal=True)

#: JSON documents; JSONB on PostgreSQL so they can be indexed and compared.
Json: Any = sa.JSON().with_variant(JSONB(), "postgresql")

ZERO = Decimal("0")


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    FINANCE = "finance"
    ADMIN = "admin"


class LeadState(StrEnum):
    POOL = "pool"
    OFFERED = "offered"
    OWNED = "owned"
    ARCHIVED = "archived"


#: The states in which a lead is someone's: offered to them or owned (their load, their list).
OPEN_STATES = (LeadState.OFFERED, LeadState.OWNED)


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Channel(StrEnum):
    """Through which way in a change was made (kept in the audit log)."""

    BOT = "bot"
    CLI = "cli"
    WEBHOOK = "webhook"
    SYSTEM = "system"


def enum_check(column: str, enum: type[StrEnum], *, nullable: bool = False) -> sa.CheckConstraint:
    """A CHECK constraint that keeps a string column within an enumeration's values."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    condition = f"{column} IN ({values})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return sa.CheckConstraint(condition, name=f"{column}_valid")
