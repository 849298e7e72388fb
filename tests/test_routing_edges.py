"""Routing edges with a controlled clock: the scheduled deadline job, restarts, group fallback,
who is skipped, rule matching, the default claim window and the re-claim cool-down."""

import asyncio
import json
import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake, lifecycle, offers, rules, sources, tags, teams, users
from core.db import create_engine, session_factory
from core.errors import Conflict
from core.models import (
    AuditEntry,
    ClaimBlock,
    Lead,
    LeadOffer,
    OutboxMessage,
    Team,
    utcnow,
)
from core.routing import Offer, route
from core.scheduler import build_scheduler, run_job
from tests import factories

ON_POSTGRES = os.environ.get("LEADLOOP_TEST_DATABASE", "sqlite") == "postgresql"


async def _routed(session: AsyncSession, team: Team, now: datetime) -> tuple[Lead, Offer | None]:
    """A new lead of the team, routed at `now` and committed."""
    lead = await factories.lead(session, team)
    offer = await route(session, lead=lead, team=team, now=now)
    await session.commit()
    return lead, offer


async def _offers(sessions: async_sessionmaker[AsyncSession]) -> list[tuple]:
    """Every offer as (lead, rep, chat, outcome), oldest first, read as a new process would."""
    async with sessions() as fresh:
        rows = await fresh.exec(select(LeadOffer).order_by(col(LeadOffer.id)))
        return [(o.lead_id, o.user_id, o.chat_id, o.outcome) for o in rows.all()]


async def _pushes(sessions: async_sessionmaker[AsyncSession]) -> list[tuple]:
    """Every outbox row as (kind, recipient, chat), oldest first."""
    async with sessions() as fresh:
        rows = await fresh.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [(m.kind, m.recipient_id, m.chat_id) for m in rows.all()]


async def _lead(sessions: async_sessionmaker[AsyncSession], lead_id: int) -> Lead:
    async with sessions() as fresh:
        return await fresh.get_one(Lead, lead_id)


def _deadline_job(sessions: async_sessionmaker[AsyncSession]):
    """The scheduler's job that moves leads whose claim deadline passed."""
    scheduler = build_scheduler(sessions)
    by_target = {job.args[0].run: job for job in scheduler.get_jobs()}
    job = by_target.get(offers.expire_offers)
    assert job is not None, [job.id for job in scheduler.get_jobs()]
    return job


async def test_the_scheduled_deadline_job_moves_an_unclaimed_lead_to_the_next_rep_once(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await factories.user(session, team, role="manager")
    now = utcnow()
    lead, first = await _routed(session, team, now)
    assert first.user_id == anna.id
    job = _deadline_job(sessions)
    # The tick runs often enough for a claim window of minutes.
    assert job.trigger.interval <= timedelta(minutes=1)

    await job.func(*job.args, **job.kwargs, clock=lambda: first.deadline - timedelta(seconds=1))
    assert (await _lead(sessions, lead.id)).owner_id == anna.id  # not due yet

    late = first.deadline + timedelta(seconds=1)
    await job.func(*job.args, **job.kwargs, clock=lambda: late)
    moved = await _lead(sessions, lead.id)
    assert (moved.state, moved.owner_id) == ("offered", boris.id)
    assert moved.claim_deadline == late + timedelta(minutes=15)
    expected_offers = [
        (lead.id, anna.id, anna.telegram_id, "expired"),
        (lead.id, boris.id, boris.telegram_id, "pending"),
    ]
    expected_pushes = [
        ("lead_offer", anna.id, anna.telegram_id),
        ("lead_offer", boris.id, boris.telegram_id),
    ]
    assert await _offers(sessions) == expected_offers
    assert await _pushes(sessions) == expected_pushes

    await job.func(*job.args, **job.kwargs, clock=lambda: late)  # the next tick
    await job.func(*job.args, **job.kwargs, clock=lambda: late + timedelta(seconds=5))
    assert await _offers(sessions) == expected_offers
    assert await _pushes(sessions) == expected_pushes
    again = await _lead(sessions, lead.id)
    assert (again.state, again.owner_id) == ("offered", boris.id)


async def test_an_offer_that_expired_while_down_is_moved_once_after_a_restart(
    database_url: str, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    now = utcnow()
    lead, first = await _routed(session, team, now)
    assert first.user_id == anna.id
    after_downtime = now + timedelta(hours=2)

    for _ in range(2):  # the restarted process ticks, and ticks again
        engine = create_engine(database_url)
        restarted = session_factory(engine)
        try:
            await run_job(_deadline_job(restarted).args[0], restarted, lambda: after_downtime)
        finally:
            await engine.dispose()

    engine = create_engine(database_url)
    try:
        reader = session_factory(engine)
        moved = await _lead(reader, lead.id)
        assert (moved.state, moved.owner_id) == ("offered", boris.id)
        assert moved.claim_deadline == after_downtime + timedelta(minutes=15)
        assert await _offers(reader) == [
            (lead.id, anna.id, anna.telegram_id, "expired"),
            (lead.id, boris.id, boris.telegram_id, "pending"),
        ]
        assert await _pushes(reader) == [
            ("lead_offer", anna.id, anna.telegram_id),
            ("lead_offer", boris.id, boris.telegram_id),
        ]
        async with reader() as fresh:
            expired = await fresh.exec(
                select(AuditEntry.id).where(AuditEntry.action == "offer_expired")
            )
            assert len(expired.all()) == 1
    finally:
        await engine.dispose()


@pytest.mark.skipif(not ON_POSTGRES, reason="several instances share a PostgreSQL database")
async def test_two_instances_ticking_at_once_move_an_expired_offer_once(
    database_url: str, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    reps = [await factories.user(session, team, name=f"R{n}") for n in range(4)]
    now = utcnow()
    await _routed(session, team, now)
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        makers = [session_factory(engine) for engine in engines]
        job = _deadline_job(makers[0]).args[0]
        later = now + timedelta(minutes=16)
        await asyncio.gather(*(run_job(job, maker, lambda: later) for maker in makers))
        offered = await _offers(makers[0])
        assert [outcome for *_, outcome in offered] == ["expired", "pending"]
        assert offered[1][1] in {rep.id for rep in reps[1:]}
        kinds = [kind for kind, *_ in await _pushes(makers[0])]
        assert kinds == ["lead_offer", "lead_offer"]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_group_offer_nobody_claims_goes_to_a_rep_by_the_rules(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(
        session, name="Alpha", values={"offer_mode": "group", "group_chat": "-100200"}
    )
    await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await rules.add_rule(
        session,
        team_name="Alpha",
        match=None,
        strategy="to-user",
        user_telegram_id=boris.telegram_id,
    )
    team = await session.get_one(Team, team.id)
    now = utcnow()
    lead, posted = await _routed(session, team, now)
    assert (posted.user_id, posted.chat_id) == (None, -100200)
    assert await _pushes(sessions) == [("lead_offer", None, -100200)]

    later = posted.deadline + timedelta(seconds=1)
    async with sessions() as tick:
        await offers.expire_offers(tick, later)

    moved = await _lead(sessions, lead.id)
    assert (moved.state, moved.owner_id) == ("offered", boris.id)
    assert moved.claim_deadline == later + timedelta(minutes=15)
    assert await _offers(sessions) == [
        (lead.id, None, -100200, "expired"),
        (lead.id, boris.id, boris.telegram_id, "pending"),
    ]
    assert await _pushes(sessions) == [
        ("lead_offer", None, -100200),
        ("lead_offer", boris.id, boris.telegram_id),
    ]
    async with sessions() as fresh:
        push = (
            await fresh.exec(
                select(OutboxMessage).where(OutboxMessage.chat_id == boris.telegram_id)
            )
        ).one()
    assert push.params["group"] is False and push.params["lead_id"] == lead.id


async def test_inactive_and_unreachable_reps_are_never_offered_and_then_every_manager_is_told(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    beta = await factories.team(session, "Beta")
    # Created first: in a round robin they would come before Anna.
    gone = await factories.user(session, team, name="Gone")
    blocked = await factories.user(session, team, name="Blocked")
    anna = await factories.user(session, team, name="Anna")
    managers = [await factories.user(session, team, role="manager") for _ in range(2)]
    outsider = await factories.user(session, beta, role="manager")
    gone.is_active = False  # still "on shift": only being inactive keeps them out
    blocked.reachable = False  # blocked the bot
    await session.commit()
    now = utcnow()
    lead_ids = []
    for n in range(3):
        lead = await factories.lead(session, team, name=f"L{n}")
        await route(session, lead=lead, team=team, now=now)
        await session.commit()
        lead_ids.append(lead.id)
    offered = await _offers(sessions)
    assert [user_id for _, user_id, _, _ in offered] == [anna.id] * 3

    anna.reachable = False
    await session.commit()
    last = await factories.lead(session, team, name="Nobody")
    assert await route(session, lead=last, team=team, now=now) is None
    await session.commit()
    pooled = await _lead(sessions, last.id)
    assert (pooled.state, pooled.owner_id, pooled.claim_deadline) == ("pool", None, None)
    assert len(await _offers(sessions)) == 3  # no offer for the pooled lead
    pushes = await _pushes(sessions)
    assert {recipient for _, recipient, _ in pushes} & {gone.id, blocked.id} == set()
    told = sorted((recipient, chat) for kind, recipient, chat in pushes if kind == "lead_pooled")
    assert told == sorted((m.id, m.telegram_id) for m in managers)
    assert outsider.id not in {recipient for _, recipient, _ in pushes}


async def test_rules_match_region_tag_and_profile_and_a_miss_falls_through(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    anna, boris, clara, dora = [
        await factories.user(session, team, name=name)
        for name in ("Anna", "Boris", "Clara", "Dora")
    ]
    for match, rep in (("region=north", anna), ("tag=vip", boris), ("profile.rooms=3", clara)):
        await rules.add_rule(
            session,
            team_name="Alpha",
            match=match,
            strategy="to-user",
            user_telegram_id=rep.telegram_id,
        )
    now = utcnow()

    async def routed_to(**fields) -> int | None:
        lead_tags = fields.pop("tags", ())
        lead = await factories.lead(session, team, **fields)
        await tags.attach(session, lead, lead_tags)
        await session.flush()
        offer = await route(session, lead=lead, team=team, now=now)
        await session.commit()
        return offer.user_id if offer else None

    assert await routed_to(region="North") == anna.id  # case does not matter
    assert await routed_to(region="south", tags=["VIP"]) == boris.id  # region rule missed
    assert await routed_to(region="south", profile={"rooms": 3}) == clara.id
    assert await routed_to(region="north", tags=["vip"], profile={"rooms": 3}) == anna.id
    assert await routed_to(tags=["regular"], profile={"rooms": 4}) == dora.id  # the default
    offered = (await session.exec(select(LeadOffer.user_id).order_by(col(LeadOffer.id)))).all()
    assert offered == [anna.id, boris.id, clara.id, anna.id, dora.id]


async def test_a_tag_rule_matches_the_tag_a_web_forms_source_puts_on_its_leads(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await rules.add_rule(
        session,
        team_name="Alpha",
        match="tag=web",
        strategy="to-user",
        user_telegram_id=boris.telegram_id,
    )
    await sources.add_source(
        session, name="site", kind="generic", values={"team": "Alpha", "tags": ["web"]}
    )
    source, own_team = await sources.source_and_team(session, "site")
    body = json.dumps({"name": "Lena", "phone": "+79123456789"}).encode()
    received = await intake.receive(
        session, source=source, team=own_team, headers={}, body=body, now=utcnow()
    )
    lead = await session.get_one(Lead, received.lead_ids[0])
    assert (lead.state, lead.owner_id) == ("offered", boris.id)


async def test_a_new_teams_claim_window_is_fifteen_minutes(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    await factories.user(session, team, name="Boris")
    await sources.add_source(session, name="site", kind="generic", values={"team": "Alpha"})
    source, own_team = await sources.source_and_team(session, "site")
    now = utcnow()
    body = json.dumps({"name": "Lena", "phone": "+79123456789"}).encode()
    received = await intake.receive(
        session, source=source, team=own_team, headers={}, body=body, now=now
    )
    lead = await _lead(sessions, received.lead_ids[0])
    assert lead.created_at == now and lead.owner_id == anna.id
    assert lead.claim_deadline == lead.created_at + timedelta(minutes=15)
    async with sessions() as fresh:
        offer = (await fresh.exec(select(LeadOffer))).one()
        push = (await fresh.exec(select(OutboxMessage))).one()
    assert offer.deadline == lead.created_at + timedelta(minutes=15)
    assert datetime.fromisoformat(push.params["deadline"]) == offer.deadline

    async with sessions() as tick:
        await offers.expire_offers(tick, now + timedelta(minutes=15) - timedelta(seconds=1))
    assert (await _lead(sessions, lead.id)).owner_id == anna.id
    async with sessions() as tick:
        await offers.expire_offers(tick, now + timedelta(minutes=15))
    assert (await _lead(sessions, lead.id)).owner_id != anna.id


async def test_a_rep_a_lead_was_reassigned_away_from_cannot_get_it_back_during_the_cool_down(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    clara = await factories.user(session, team, name="Clara")
    manager = await factories.user(session, team, role="manager")
    anna_id, clara_id = anna.id, clara.id
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna)
    lead_id = lead.id
    await lifecycle.reassign(session, actor=manager, lead_id=lead_id, to_user_id=boris.id, now=now)
    await lifecycle.release(session, actor=boris, lead_id=lead_id, reason="not mine", now=now)

    soon = now + timedelta(hours=1)
    with pytest.raises(Conflict) as cooling:
        await factories.claim(sessions, anna_id, lead_id, soon)
    assert cooling.value.code == "cooling_down"
    # Round robin would pick Anna first (lowest id, no leads offered yet).
    offer = await route(session, lead=lead, team=team, now=soon)
    await session.commit()
    assert offer.user_id == clara_id

    async with sessions() as tick:  # Clara lets it lapse: Anna and Boris still cool down
        await offers.expire_offers(tick, offer.deadline)
    assert (await _lead(sessions, lead_id)).state == "pool"
    assert [user_id for _, user_id, _, _ in await _offers(sessions)] == [clara_id]

    taken = await factories.claim(sessions, anna_id, lead_id, now + timedelta(hours=25))
    assert (taken.state, taken.owner_id) == ("owned", anna_id)


async def test_a_rep_whose_stale_lead_was_taken_back_cannot_claim_it_during_the_cool_down(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"stale_days": "5"})
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    anna_id, boris_id = anna.id, boris.id
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna, last_touch_at=now - timedelta(days=5))
    lead_id = lead.id
    await offers.return_stale(session, now - timedelta(days=1))  # the warning, a day before
    await offers.return_stale(session, now)
    async with sessions() as fresh:
        blocks = (await fresh.exec(select(ClaimBlock.user_id, ClaimBlock.until))).all()
    assert [tuple(block) for block in blocks] == [(anna_id, now + timedelta(hours=24))]

    with pytest.raises(Conflict) as cooling:
        await factories.claim(sessions, anna_id, lead_id, now + timedelta(hours=1))
    assert cooling.value.code == "cooling_down"
    offer = await route(session, lead=lead, team=team, now=now + timedelta(hours=1))
    await session.commit()
    assert offer.user_id == boris_id


async def test_a_rep_whose_offer_lapsed_is_not_offered_the_lead_again_in_the_cascade(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    manager = await factories.user(session, team, role="manager")
    now = utcnow()
    lead, first = await _routed(session, team, now)
    assert first.user_id == anna.id
    async with sessions() as tick:  # Anna is still the only rep who could take it
        await offers.expire_offers(tick, first.deadline)
    pooled = await _lead(sessions, lead.id)
    assert (pooled.state, pooled.owner_id) == ("pool", None)
    assert await _offers(sessions) == [(lead.id, anna.id, anna.telegram_id, "expired")]
    assert await _pushes(sessions) == [
        ("lead_offer", anna.id, anna.telegram_id),
        ("lead_pooled", manager.id, manager.telegram_id),
    ]


async def test_an_offer_ended_by_a_manager_or_a_leaving_rep_is_closed_as_withdrawn(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    clara = await factories.user(session, team, name="Clara")
    manager = await factories.user(session, team, role="manager")
    anna_id, boris_id, boris_chat, clara_id = anna.id, boris.id, boris.telegram_id, clara.id
    now = utcnow()
    reassigned, _ = await _routed(session, team, now)  # offered to Anna
    left, _ = await _routed(session, team, now)  # offered to Boris, who then leaves
    reassigned_id, left_id = reassigned.id, left.id
    await lifecycle.reassign(
        session, actor=manager, lead_id=reassigned_id, to_user_id=clara_id, now=now
    )
    await users.deactivate(session, telegram_id=boris_chat, reassign_to=None, to_pool=True)

    assert [(lead_id, rep, outcome) for lead_id, rep, _, outcome in await _offers(sessions)] == [
        (reassigned_id, anna_id, "withdrawn"),
        (left_id, boris_id, "withdrawn"),
    ]
    for lead_id, holder in ((reassigned_id, ("owned", clara_id)), (left_id, ("pool", None))):
        lead = await _lead(sessions, lead_id)
        assert ((lead.state, lead.owner_id), lead.claim_deadline) == (holder, None)
    async with sessions() as tick:  # nothing is left for the deadline job to move
        await offers.expire_offers(tick, now + timedelta(hours=1))
    assert (await _lead(sessions, reassigned_id)).owner_id == clara_id
    assert len(await _offers(sessions)) == 2  # and nobody was offered them anew


async def test_an_offer_to_a_rep_who_blocked_the_bot_moves_on_at_the_next_tick(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    anna_id, boris_id = anna.id, boris.id
    now = utcnow()
    lead, offer = await _routed(session, team, now)
    assert offer.user_id == anna_id
    anna.reachable = False  # the sender's 403 for her offer
    await session.commit()

    async with sessions() as tick:  # minutes before the deadline
        await offers.expire_offers(tick, now + timedelta(seconds=5))
    moved = await _lead(sessions, lead.id)
    assert (moved.state, moved.owner_id) == ("offered", boris_id)
    assert [(rep, outcome) for _, rep, _, outcome in await _offers(sessions)] == [
        (anna_id, "expired"),
        (boris_id, "pending"),
    ]
