"""Contracts, their instalment schedules and the payments collected against them."""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.types import Money, UTCDateTime, utcnow


class Contract(SQLModel, table=True):
    __tablename__ = "contracts"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    number: str = Field(sa_type=sa.String(64))
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(sa_type=sa.String(3))
    signed_on: date
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)


class Installment(SQLModel, table=True):
    """One scheduled part of a contract's amount, due on a date."""

    __tablename__ = "installments"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contracts.id", ondelete="CASCADE")
    due_date: date
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(sa_type=sa.String(3))
    #: due, paid, or cancelled; "overdue" is derived from the due date, never stored.
    status: str = Field(default="due", sa_type=sa.String(16))
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("status IN ('due', 'paid', 'cancelled')", name="status_valid"),
        sa.Index("ix_installments_due_date_status", "due_date", "status"),
    )


class Payment(SQLModel, table=True):
    __tablename__ = "payments"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contracts.id", index=True)
    installment_id: int | None = Field(default=None, foreign_key="installments.id")
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(sa_type=sa.String(3))
    paid_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    method: str | None = Field(default=None, sa_type=sa.String(32))
    recorded_by_id: int | None = Field(default=None, foreign_key="users.id")

    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)
