"""Claims and stale returns against the clock: a late claim is refused, a stale lead goes back
only after its owner was warned a day before, a fresh claim restarts the clock, and open tasks
follow the lead in and out of the pool."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import followups, lifecycle, offers, teams
from core.errors import Conflict
from core.models import Lead, LeadOffer, OutboxMessage, Task, Team, User, utcnow
from core.routing import route
from tests import factories
from tests.botkit import BotUnderTest

Sessions = async_sessionmaker[AsyncSession]


async def _refusal(sessions: Sessions, user_id: int, lead_id: int, now: datetime) -> str:
    """The code of the Conflict a claim is refused with."""
    with pytest.raises(Conflict) as refused:
        await factories.claim(sessions, user_id, lead_id, now)
    return refused.value.code


async def _tick(sessions: Sessions, now: datetime) -> None:
    """The scheduler's stale-lead job, run at `now`."""
    async with sessions() as job:
        await offers.return_stale(job, now)


async def _holder(sessions: Sessions, lead_id: int) -> tuple[str, int | None]:
    async with sessions() as fresh:
        lead = await fresh.get_one(Lead, lead_id)
        return lead.state, lead.owner_id


async def _warned(sessions: Sessions) -> list[int | None]:
    """Who got a stale-lead warning, oldest first."""
    async with sessions() as fresh:
        rows = await fresh.exec(
            select(OutboxMessage.recipient_id)
            .where(OutboxMessage.kind == "stale_warning")
            .order_by(col(OutboxMessage.id))
        )
        return list(rows.all())


async def _assignees(sessions: Sessions, lead_id: int) -> dict[str, int | None]:
    async with sessions() as fresh:
        tasks = await fresh.exec(select(Task).where(Task.lead_id == lead_id))
        return {task.title: task.assignee_id for task in tasks.all()}


async def _today(sessions: Sessions, user_id: int, now: datetime) -> list[str]:
    """The task titles on the user's /today."""
    async with sessions() as fresh:
        me = await fresh.get_one(User, user_id)
        day = await followups.agenda(fresh, actor=me, now=now, zone=ZoneInfo("UTC"))
        return [task.title for task, _ in day.overdue + day.today]


# A claim after the deadline


async def test_a_claim_after_the_deadline_is_refused_and_the_lead_moves_on_at_the_tick(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    anna_id, boris_id = anna.id, boris.id
    lead = await factories.lead(session, team)
    offer = await route(session, lead=lead, team=team, now=utcnow())
    await session.commit()
    assert offer.user_id == anna_id

    late = offer.deadline + timedelta(minutes=5)  # the tick is behind
    assert await _refusal(sessions, anna_id, offer.lead_id, late) == "offer_expired"
    assert await _holder(sessions, offer.lead_id) == ("offered", anna_id)
    async with sessions() as tick:
        await offers.expire_offers(tick, late)
    assert await _holder(sessions, offer.lead_id) == ("offered", boris_id)
    taken = await factories.claim(sessions, boris_id, offer.lead_id, late + timedelta(minutes=1))
    assert (taken.state, taken.owner_id) == ("owned", boris_id)


async def test_a_claim_a_second_before_the_deadline_wins(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    lead = await factories.lead(session, team)
    offer = await route(session, lead=lead, team=team, now=utcnow())
    await session.commit()

    taken = await factories.claim(
        sessions, anna_id, offer.lead_id, offer.deadline - timedelta(seconds=1)
    )
    assert (taken.state, taken.owner_id) == ("owned", anna_id)
    async with sessions() as fresh:
        outcomes = (await fresh.exec(select(LeadOffer.outcome))).all()
    assert list(outcomes) == ["claimed"]


async def test_a_late_tap_on_a_group_post_is_refused(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(
        session, name="Alpha", values={"offer_mode": "group", "group_chat": "-100200"}
    )
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    team = await session.get_one(Team, team.id)
    lead = await factories.lead(session, team)
    posted = await route(session, lead=lead, team=team, now=utcnow())
    await session.commit()
    assert (posted.user_id, posted.chat_id) == (None, -100200)

    assert await _refusal(sessions, anna_id, posted.lead_id, posted.deadline) == "offer_expired"
    assert await _holder(sessions, posted.lead_id) == ("offered", None)


async def test_a_rep_who_taps_an_offer_too_late_reads_that_the_time_ran_out(
    bot: BotUnderTest, session: AsyncSession, sessions: Sessions
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    lead = await factories.lead(session, team)
    offered_at = utcnow() - timedelta(hours=1)  # the window closed 45 minutes ago
    await route(session, lead=lead, team=team, now=offered_at)
    await session.commit()
    lead_id, anna_id = lead.id, anna.id
    await bot.deliver_pushes(sessions)
    offer = await bot.shown(anna.telegram_id, since=0)

    late = await bot.press(anna.telegram_id, offer, "Claim")
    assert late.method == "answerCallbackQuery"
    assert late.params["text"] == "The time to claim this lead has run out."
    assert await _holder(sessions, lead_id) == ("offered", anna_id)


# The stale clock


async def test_a_lead_claimed_from_the_pool_after_a_stale_return_starts_a_fresh_clock(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")  # stale after 30 days
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    anna_id, boris_id = anna.id, boris.id
    now = utcnow()
    long_ago = now - timedelta(days=40)
    lead = await factories.lead(
        session, team, owner=anna, created_at=long_ago, claimed_at=long_ago, last_touch_at=long_ago
    )
    lead_id = lead.id
    await _tick(sessions, now)
    await _tick(sessions, now + timedelta(days=1))
    assert await _holder(sessions, lead_id) == ("pool", None)

    claimed_at = now + timedelta(days=1, minutes=1)
    await factories.claim(sessions, boris_id, lead_id, claimed_at)
    await _tick(sessions, claimed_at + timedelta(minutes=10))
    await _tick(sessions, claimed_at + timedelta(days=28))
    assert await _holder(sessions, lead_id) == ("owned", boris_id)
    assert await _warned(sessions) == [anna_id]

    await _tick(sessions, claimed_at + timedelta(days=29))
    assert await _warned(sessions) == [anna_id, boris_id]
    await _tick(sessions, claimed_at + timedelta(days=30))
    assert await _holder(sessions, lead_id) == ("pool", None)


async def test_a_lead_released_long_ago_is_not_stale_when_claimed_from_the_pool(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    anna_id, boris_id = anna.id, boris.id
    long_ago = utcnow() - timedelta(days=31)
    lead = await factories.lead(session, team, owner=anna, created_at=long_ago)
    lead_id = lead.id
    async with sessions() as own:
        anna = await own.get_one(User, anna_id)
        await lifecycle.release(own, actor=anna, lead_id=lead_id, reason="no budget", now=long_ago)

    now = utcnow()
    await factories.claim(sessions, boris_id, lead_id, now)
    await _tick(sessions, now + timedelta(minutes=10))
    assert await _holder(sessions, lead_id) == ("owned", boris_id)
    assert await _warned(sessions) == []


# Warned a day before


async def test_a_lead_past_its_stale_days_but_never_warned_is_warned_then_returned_a_day_later(
    sessions: Sessions, session: AsyncSession
) -> None:
    """The scheduler was down for a week: nothing goes back without a warning first."""
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna, last_touch_at=now - timedelta(days=37))
    lead_id = lead.id

    await _tick(sessions, now)
    assert await _holder(sessions, lead_id) == ("owned", anna_id)
    assert await _warned(sessions) == [anna_id]
    await _tick(sessions, now + timedelta(hours=23))
    assert await _holder(sessions, lead_id) == ("owned", anna_id)
    await _tick(sessions, now + timedelta(days=1))
    assert await _holder(sessions, lead_id) == ("pool", None)
    assert await _warned(sessions) == [anna_id]


async def test_lowering_the_stale_days_warns_first_and_returns_a_day_later(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")  # stale after 30 days
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    now = utcnow()
    claimed = now - timedelta(days=20)
    lead = await factories.lead(session, team, owner=anna, created_at=claimed, claimed_at=claimed)
    lead_id = lead.id
    await _tick(sessions, now)
    assert await _warned(sessions) == []

    await teams.update_team(session, name="Alpha", values={"stale_days": "10"})
    later = now + timedelta(minutes=10)
    await _tick(sessions, later)
    assert await _holder(sessions, lead_id) == ("owned", anna_id)
    assert await _warned(sessions) == [anna_id]
    await _tick(sessions, later + timedelta(days=1))
    assert await _holder(sessions, lead_id) == ("pool", None)


async def test_a_follow_up_after_the_warning_keeps_the_lead(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"stale_days": "5"})
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna, last_touch_at=now - timedelta(days=4))
    lead_id = lead.id
    await _tick(sessions, now)
    assert await _warned(sessions) == [anna_id]

    async with sessions() as own:
        await followups.log_followup(
            own,
            actor=await own.get_one(User, anna_id),
            lead_id=lead_id,
            channel="call",
            summary="Wants a quote next week",
            intent=None,
            next_step=None,
            due=None,
            now=now + timedelta(hours=2),
        )
    await _tick(sessions, now + timedelta(days=1))
    assert await _holder(sessions, lead_id) == ("owned", anna_id)
    assert await _warned(sessions) == [anna_id]


# Tasks follow the lead


async def test_a_stale_return_takes_the_open_tasks_off_the_old_owners_day(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    now = utcnow()
    long_ago = now - timedelta(days=40)
    lead = await factories.lead(session, team, owner=anna, created_at=long_ago, claimed_at=long_ago)
    lead_id = lead.id
    session.add(Task(lead_id=lead_id, assignee_id=anna_id, title="Call back", due_at=long_ago))
    session.add(
        Task(lead_id=lead_id, assignee_id=anna_id, title="Intro", due_at=long_ago, done_at=long_ago)
    )
    await session.commit()
    assert await _today(sessions, anna_id, now) == ["Call back"]

    await _tick(sessions, now)
    await _tick(sessions, now + timedelta(days=1))
    assert await _holder(sessions, lead_id) == ("pool", None)
    assert await _today(sessions, anna_id, now + timedelta(days=1)) == []
    assert await _assignees(sessions, lead_id) == {"Call back": None, "Intro": anna_id}


async def test_claiming_a_lead_brings_its_waiting_tasks_to_the_new_owner(
    sessions: Sessions, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    maria = await factories.user(session, team, role="manager", name="Maria")
    anna_id, boris_id, maria_id = anna.id, boris.id, maria.id
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna)
    lead_id = lead.id
    session.add(Task(lead_id=lead_id, assignee_id=anna_id, title="Send quote", due_at=now))
    await session.commit()
    async with sessions() as own:
        anna = await own.get_one(User, anna_id)
        await lifecycle.release(own, actor=anna, lead_id=lead_id, reason="busy", now=now)
    async with sessions() as own:  # a manager's own reminder on the pooled lead stays hers
        maria = await own.get_one(User, maria_id)
        await followups.schedule_task(
            own, actor=maria, lead_id=lead_id, title="Check who took it", due=now, now=now
        )

    await factories.claim(sessions, boris_id, lead_id, now + timedelta(minutes=1))
    assert await _today(sessions, boris_id, now + timedelta(minutes=2)) == ["Send quote"]
    assert await _assignees(sessions, lead_id) == {
        "Send quote": boris_id,
        "Check who took it": maria_id,
    }
