"""Core lead services against the real database: capture, dedup, lists, search, rights."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import lead_edits, leads, lifecycle, merge
from core.errors import Forbidden, InvalidInput, NotFound
from core.leads import LeadFilter, NewLead
from core.models import (
    Activity,
    AuditEntry,
    Lead,
    LeadState,
    OutboxMessage,
    StageChange,
    Task,
    utcnow,
)
from tests import factories


@pytest.fixture
async def ru_team(session: AsyncSession):
    return await factories.team(session, "Moscow", country="RU", currency="RUB")


async def test_capture_creates_an_owned_lead_with_history(session: AsyncSession, ru_team) -> None:
    rep = await factories.user(session, ru_team)
    now = utcnow()
    entry = NewLead(
        name=" Anna ",
        phone="8 (912) 345-67-89",
        budget=Decimal("2000000"),
        tags=["#Referral"],
        comment="wants a kitchen",
    )
    result = await leads.capture(session, actor=rep, entry=entry, now=now)
    assert result.outcome == "created"
    lead = await session.get_one(Lead, result.lead_id)
    assert (lead.name, lead.phone_e164, lead.owner_id, lead.state) == (
        "Anna",
        "+79123456789",
        rep.id,
        "owned",
    )
    assert (lead.stage, lead.budget, lead.budget_currency) == ("first_contact", 2000000, "RUB")
    history = (await session.exec(select(StageChange))).all()
    assert [(row.from_stage, row.to_stage) for row in history] == [(None, "first_contact")]
    assert (await session.exec(select(Activity.summary))).all() == ["wants a kitchen"]
    card = await leads.card(session, actor=rep, lead_id=lead.id)
    assert card.tags == ["referral"] and card.editable


async def test_the_same_phone_in_any_format_is_never_a_second_lead(
    session: AsyncSession, ru_team
) -> None:
    anna, boris = await factories.user(session, ru_team), await factories.user(session, ru_team)
    manager = await factories.user(session, ru_team, role="manager", name="Maria")
    now = utcnow()
    first = await leads.capture(
        session, actor=anna, entry=NewLead("Anna", "+7 912 345 67 89"), now=now
    )
    again = await leads.capture(
        session, actor=anna, entry=NewLead("A.", "８９１２３４５６７８９"), now=now
    )
    assert (again.outcome, again.lead_id) == ("yours", first.lead_id)
    other = await leads.capture(session, actor=boris, entry=NewLead("Ann", "89123456789"), now=now)
    assert other.outcome == "taken" and other.lead is None
    assert (other.masked_phone, other.masked_name) == ("+7 912 *** ** 89", "A***")
    assert len((await session.exec(select(Lead))).all()) == 1
    attempts = await session.exec(
        select(AuditEntry).where(AuditEntry.action == "duplicate_attempt")
    )
    assert [entry.actor_id for entry in attempts] == [anna.id, boris.id]
    await leads.ask_for_access(session, actor=boris, lead_id=first.lead_id, now=now)
    await leads.ask_for_access(session, actor=boris, lead_id=first.lead_id, now=now)  # once a day
    pushes = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert sorted(push.recipient_id for push in pushes) == sorted([anna.id, manager.id])
    assert {push.kind for push in pushes} == {"duplicate_request"}


async def test_asking_about_a_lead_one_never_met_is_not_found(
    session: AsyncSession, ru_team
) -> None:
    anna, boris = await factories.user(session, ru_team), await factories.user(session, ru_team)
    lead = await factories.lead(session, ru_team, owner=anna)
    with pytest.raises(NotFound):
        await leads.ask_for_access(session, actor=boris, lead_id=lead.id, now=utcnow())


async def test_dedup_by_email_and_bad_contacts(session: AsyncSession, ru_team) -> None:
    rep = await factories.user(session, ru_team)
    now = utcnow()
    made = await leads.capture(
        session, actor=rep, entry=NewLead("Li", email="Li@Example.com"), now=now
    )
    again = await leads.capture(
        session, actor=rep, entry=NewLead("Li", email="li@example.COM "), now=now
    )
    assert again.lead_id == made.lead_id
    for entry, code in (
        (NewLead("X"), "no_contact"),
        (NewLead("X", "12"), "phone_impossible"),
        (NewLead("", "+79123456789"), "name_invalid"),
    ):
        with pytest.raises(InvalidInput) as error:
            await leads.capture(session, actor=rep, entry=entry, now=now)
        assert error.value.code == code


async def test_finance_cannot_enter_leads(session: AsyncSession, ru_team) -> None:
    finance = await factories.user(session, ru_team, role="finance")
    with pytest.raises(Forbidden):
        await leads.capture(
            session, actor=finance, entry=NewLead("X", "+79123456789"), now=utcnow()
        )


async def test_rights_per_record(session: AsyncSession, ru_team) -> None:
    other_team = await factories.team(session, "Other")
    anna, boris = await factories.user(session, ru_team), await factories.user(session, ru_team)
    manager = await factories.user(session, ru_team, role="manager")
    finance = await factories.user(session, other_team, role="finance")
    stranger_manager = await factories.user(session, other_team, role="manager")
    lead = await factories.lead(session, ru_team, owner=anna)
    pooled = await factories.lead(session, ru_team, name="Pool", phone="+79123456780")
    now = utcnow()
    with pytest.raises(NotFound):
        await leads.card(session, actor=boris, lead_id=lead.id)
    with pytest.raises(NotFound):
        await lead_edits.move_stage(
            session, actor=stranger_manager, lead_id=lead.id, stage="intent", now=now
        )
    assert (await leads.card(session, actor=boris, lead_id=pooled.id)).editable is False
    assert (await leads.card(session, actor=finance, lead_id=lead.id)).editable is False
    with pytest.raises(Forbidden):
        await lead_edits.edit_field(
            session, actor=finance, lead_id=lead.id, field="name", value="X"
        )
    moved = await lead_edits.move_stage(
        session, actor=manager, lead_id=lead.id, stage="intent", now=now
    )
    assert moved.stage == "intent"
    assert [found.id for found in await leads.find(session, actor=boris, text="912 345")] == [
        pooled.id
    ]


async def test_the_worklist_puts_overdue_first_then_grade_then_age(
    session: AsyncSession, ru_team
) -> None:
    rep = await factories.user(session, ru_team)
    now = utcnow()
    old_c = await factories.lead(
        session, ru_team, owner=rep, name="old C", grade="C", created_at=now - timedelta(days=9)
    )
    new_a = await factories.lead(
        session, ru_team, owner=rep, name="new A", grade="A", created_at=now - timedelta(days=1)
    )
    overdue = await factories.lead(
        session,
        ru_team,
        owner=rep,
        name="overdue",
        grade="C",
        next_action_at=now - timedelta(hours=1),
    )
    old_a = await factories.lead(
        session, ru_team, owner=rep, name="old A", grade="A", created_at=now - timedelta(days=5)
    )
    await factories.lead(session, ru_team, owner=rep, name="lost", state=LeadState.ARCHIVED)
    page = await leads.worklist(
        session, actor=rep, filters=LeadFilter(), page=0, page_size=3, now=now
    )
    assert [lead.id for lead in page.leads] == [overdue.id, old_a.id, new_a.id]
    assert (page.total, page.pages) == (4, 2)
    second = await leads.worklist(
        session, actor=rep, filters=LeadFilter(), page=1, page_size=3, now=now
    )
    assert [lead.id for lead in second.leads] == [old_c.id]
    idle = await leads.worklist(
        session, actor=rep, filters=LeadFilter(idle_days=7), page=0, page_size=8, now=now
    )
    assert [lead.id for lead in idle.leads] == [old_c.id]
    lost = await leads.worklist(
        session, actor=rep, filters=LeadFilter(lost=True), page=0, page_size=8, now=now
    )
    assert [lead.name for lead in lost.leads] == ["lost"]


async def test_find_matches_folded_names_in_any_script(session: AsyncSession, ru_team) -> None:
    rep = await factories.user(session, ru_team)
    anna = await factories.lead(session, ru_team, owner=rep, name="Анна Петрова")
    assert [lead.id for lead in await leads.find(session, actor=rep, text="АНН")] == [anna.id]
    assert await leads.find(session, actor=rep, text="Boris") == []


async def test_a_name_that_grows_when_folded_is_kept_and_found(
    session: AsyncSession, ru_team
) -> None:
    rep = await factories.user(session, ru_team)
    lead_id = (await factories.lead(session, ru_team, owner=rep, name="ß" * 200)).id
    session.expunge_all()  # read back as written
    kept = await session.get_one(Lead, lead_id)
    assert (kept.name, kept.name_folded) == ("ß" * 200, "s" * 200)
    assert [found.id for found in await leads.find(session, actor=rep, text="SSSS")] == [lead_id]


async def test_release_lost_reopen_and_reassign(session: AsyncSession, ru_team) -> None:
    anna, boris = await factories.user(session, ru_team), await factories.user(session, ru_team)
    manager = await factories.user(session, ru_team, role="manager", name="Maria")
    lead = await factories.lead(session, ru_team, owner=anna)
    now = utcnow()
    lost = await lifecycle.mark_lost(session, actor=anna, lead_id=lead.id, reason="price", now=now)
    assert (lost.state, lost.lost_reason) == ("archived", "price")
    reopened = await lifecycle.reopen(session, actor=anna, lead_id=lead.id, now=now)
    assert (reopened.state, reopened.owner_id) == ("owned", anna.id)
    with pytest.raises(Forbidden):
        await lifecycle.reassign(session, actor=anna, lead_id=lead.id, to_user_id=boris.id, now=now)
    moved = await lifecycle.reassign(
        session, actor=manager, lead_id=lead.id, to_user_id=boris.id, now=now
    )
    assert moved.owner_id == boris.id
    push = (await session.exec(select(OutboxMessage))).one()
    assert (push.kind, push.chat_id, push.params["by"]) == (
        "lead_assigned",
        boris.telegram_id,
        "Maria",
    )
    released = await lifecycle.release(
        session, actor=boris, lead_id=lead.id, reason="no time", now=now
    )
    assert (released.state, released.owner_id) == ("pool", None)
    with pytest.raises(InvalidInput):
        await lifecycle.release(session, actor=manager, lead_id=lead.id, reason=" ", now=now)


async def test_merge_keeps_everything_of_both(session: AsyncSession, ru_team) -> None:
    rep = await factories.user(session, ru_team)
    manager = await factories.user(session, ru_team, role="manager")
    keep = await factories.lead(
        session, ru_team, owner=rep, name="Anna", phone=None, email="anna@x.ru"
    )
    drop = await factories.lead(
        session, ru_team, owner=rep, name="Anna L", budget="900", phone="+79123456789"
    )
    now = utcnow()
    session.add(Activity(lead_id=drop.id, channel="call", summary="hi", created_at=now))
    session.add(Task(lead_id=drop.id, title="call back", due_at=now, created_at=now))
    await session.commit()
    await lead_edits.add_tags(session, actor=rep, lead_id=drop.id, names=["vip"])
    with pytest.raises(Forbidden):
        await merge.merge(session, actor=rep, keep_id=keep.id, drop_id=drop.id, now=now)
    merged = await merge.merge(session, actor=manager, keep_id=keep.id, drop_id=drop.id, now=now)
    assert (merged.phone_e164, merged.email, merged.budget) == ("+79123456789", "anna@x.ru", 900)
    assert await session.get(Lead, drop.id) is None
    assert (await session.exec(select(Activity.lead_id))).all() == [keep.id]
    assert (await session.exec(select(Task.lead_id))).all() == [keep.id]
    card = await leads.card(session, actor=manager, lead_id=keep.id)
    assert card.tags == ["vip"]
    trail = await merge.lead_history(session, actor=manager, lead_id=keep.id)
    assert trail[0].entry.action == "merge"
