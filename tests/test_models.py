"""The schema's own guarantees, checked against the real database."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import outbox
from core.models import Contract, Installment, Lead, OutboxMessage, Payment, User, utcnow
from core.models.leads import unsaved_lead
from tests import factories


async def test_a_telegram_account_is_one_user(session: AsyncSession) -> None:
    team = await factories.team(session)
    session.add(User(telegram_id=42, display_name="A", role="rep", team_id=team.id))
    await session.commit()
    session.add(User(telegram_id=42, display_name="B", role="rep", team_id=team.id))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_a_role_outside_the_four_is_refused(session: AsyncSession) -> None:
    session.add(User(telegram_id=43, display_name="A", role="boss"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_outbox_dedup_key_is_unique_at_the_database(session: AsyncSession) -> None:
    session.add(OutboxMessage(kind="k", chat_id=1, dedup_key="same"))
    await session.commit()
    session.add(OutboxMessage(kind="k", chat_id=2, dedup_key="same"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_enqueue_with_a_known_key_keeps_the_first_and_the_transaction(
    session: AsyncSession,
) -> None:
    team = await factories.team(session)
    await outbox.enqueue(session, kind="k", chat_id=1, params={"n": 1}, dedup_key="once")
    await session.commit()
    await outbox.enqueue(session, kind="k", chat_id=1, params={"n": 2}, dedup_key="once")
    team.stale_days = 9
    await session.commit()
    rows = (await session.exec(select(OutboxMessage))).all()
    assert [row.params for row in rows] == [{"n": 1}]
    assert team.stale_days == 9


async def test_money_is_exact_and_timestamps_come_back_in_utc(session: AsyncSession) -> None:
    team = await factories.team(session)
    lead = await factories.lead(session, team, budget="1234567.89")
    session.expunge_all()
    loaded = await session.get_one(Lead, lead.id)
    assert loaded.budget == Decimal("1234567.89")
    assert loaded.created_at.utcoffset() == timedelta(0)


async def test_negative_or_zero_payments_are_refused(session: AsyncSession) -> None:
    team = await factories.team(session)
    lead = await factories.lead(session, team)
    contract = Contract(
        lead_id=lead.id, number="C-1", amount=Decimal(1000), currency="USD", signed_on=date.today()
    )
    session.add(contract)
    await session.commit()
    contract_id = contract.id
    session.add(Payment(contract_id=contract_id, amount=Decimal("-5"), currency="USD"))
    with pytest.raises(IntegrityError):
        await session.commit()
    await session.rollback()
    session.add(
        Installment(
            contract_id=contract_id, due_date=date.today(), amount=Decimal(0), currency="USD"
        )
    )
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_a_lead_must_belong_to_an_existing_team(session: AsyncSession) -> None:
    session.add(Lead(team_id=999, name="Ghost", stage="first_contact", created_at=utcnow()))
    with pytest.raises(IntegrityError):
        await session.commit()


def test_an_unsaved_lead_is_built_as_lead_builds_it() -> None:
    values = {
        "team_id": 1,
        "name": "Lena",
        "phone_e164": "+79123456789",
        "source": "site",
        "stage": "new",
        "created_at": utcnow(),
    }
    fast, slow = unsaved_lead(**values), Lead(**values)
    assert fast.model_dump() == slow.model_dump()
    assert sa.inspect(fast).transient
    fast.profile["rooms"] = 3  # a default of its own, as a factory gives
    assert unsaved_lead(**values).profile == {}
    fast.state = "offered"
    assert fast.state == "offered"
