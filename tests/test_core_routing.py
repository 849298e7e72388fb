"""Routing and claiming with a controlled clock: rules, the deadline cascade, races, the pool."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import lifecycle, offers, rules, teams, users
from core.errors import Conflict
from core.models import Lead, LeadOffer, LeadState, OutboxMessage, Team, utcnow
from core.routing import route
from tests import factories


async def _new_lead(session: AsyncSession, team, **fields):
    lead = await factories.lead(session, team, phone=None, **fields)
    lead.state, lead.owner_id = LeadState.POOL, None
    await session.commit()
    return lead


async def test_round_robin_follows_weights_and_skips_who_cannot_take(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    off = await factories.user(session, team, name="Off")
    await users.update_user(session, telegram_id=off.telegram_id, on_shift=False)
    await users.update_user(session, telegram_id=anna.telegram_id, weight=2)
    now = utcnow()
    chosen = []
    for n in range(6):
        lead = await _new_lead(session, team, name=f"L{n}")
        offer = await route(session, lead=lead, team=team, now=now)
        await session.commit()
        chosen.append(offer.user_id)
    assert chosen.count(anna.id) == 4 and chosen.count(boris.id) == 2
    assert off.id not in chosen


async def test_round_robin_skips_reps_at_their_cap_or_the_teams(session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await factories.lead(session, team, owner=anna)
    await users.update_user(session, telegram_id=anna.telegram_id, max_open_leads=1)
    now = utcnow()
    first = await route(session, lead=await _new_lead(session, team, name="L1"), team=team, now=now)
    assert first.user_id == boris.id  # Anna holds her one lead
    await teams.update_team(session, name="Alpha", values={"max_open_leads": "1"})
    team = await session.get_one(type(team), team.id)
    late = await _new_lead(session, team, name="L2")
    assert await route(session, lead=late, team=team, now=now) is None  # Boris is full too
    await session.commit()
    assert late.state == LeadState.POOL


async def test_least_loaded_picks_the_fewest_open_leads_per_unit_of_weight(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    for _ in range(3):
        await factories.lead(session, team, owner=anna)
    await factories.lead(session, team, owner=boris)
    await factories.lead(
        session, team, owner=boris, state=LeadState.ARCHIVED
    )  # closed: not counted
    await rules.add_rule(
        session, team_name="Alpha", match=None, strategy="least-loaded", user_telegram_id=None
    )
    now = utcnow()
    lead = await _new_lead(session, team, name="L1")
    assert (await route(session, lead=lead, team=team, now=now)).user_id == boris.id
    await users.update_user(session, telegram_id=anna.telegram_id, weight=4)  # 3/4 < 2/1
    lead = await _new_lead(session, team, name="L2")
    assert (await route(session, lead=lead, team=team, now=now)).user_id == anna.id


async def test_rules_first_match_wins_and_no_candidate_pools(session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    manager = await factories.user(session, team, role="manager")
    await rules.add_rule(
        session,
        team_name="Alpha",
        match="source=tilda",
        strategy="to-user",
        user_telegram_id=boris.telegram_id,
    )
    now = utcnow()
    tilda = await _new_lead(session, team, source="tilda")
    assert (await route(session, lead=tilda, team=team, now=now)).user_id == boris.id
    # No rule matches: the default, round robin, and Boris has had his turn.
    other = await _new_lead(session, team, source="meta")
    assert (await route(session, lead=other, team=team, now=now)).user_id == anna.id
    await users.update_user(session, telegram_id=boris.telegram_id, on_shift=False)
    again = await _new_lead(session, team, source="tilda", name="T2")
    assert await route(session, lead=again, team=team, now=now) is None
    await session.commit()
    assert again.state == LeadState.POOL
    alert = (
        await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "lead_pooled"))
    ).one()
    assert alert.recipient_id == manager.id


async def test_leads_routed_at_the_same_moment_go_to_different_reps(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    for n in range(10):
        await factories.user(session, team, name=f"R{n}")
    lead_ids = [(await _new_lead(session, team, name=f"L{n}")).id for n in range(5)]
    now = utcnow()

    async def offer(lead_id: int) -> int | None:
        async with sessions() as own:
            lead = await own.get_one(Lead, lead_id)
            made = await route(own, lead=lead, team=await own.get_one(Team, team.id), now=now)
            await asyncio.sleep(0.2)  # all five are routed before the first commits
            await own.commit()
            return made.user_id if made else None

    chosen = await asyncio.gather(*(offer(lead_id) for lead_id in lead_ids))
    assert None not in chosen and len(set(chosen)) == 5


async def test_the_claim_deadline_cascades_to_the_next_rep_then_the_pool(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"claim_window": "10m"})
    reps = [await factories.user(session, team, name=name) for name in ("A", "B")]
    await factories.user(session, team, role="manager")
    now = utcnow()
    lead = await _new_lead(session, team)
    first = await route(session, lead=lead, team=team, now=now)
    await session.commit()
    await offers.expire_offers(session, now + timedelta(minutes=9))
    assert (await session.get_one(Lead, lead.id)).owner_id == first.user_id
    await offers.expire_offers(session, now + timedelta(minutes=10))
    second = (await session.exec(select(LeadOffer).where(LeadOffer.outcome == "pending"))).one()
    assert second.user_id != first.user_id and second.user_id in {rep.id for rep in reps}
    await offers.expire_offers(session, now + timedelta(minutes=21))
    await offers.expire_offers(session, now + timedelta(minutes=21))  # a second tick: no-op
    lead_id = first.lead_id
    session.expire_all()
    lead = await session.get_one(Lead, lead_id)
    assert (lead.state, lead.owner_id) == ("pool", None)
    outcomes = (await session.exec(select(LeadOffer.outcome).order_by(col(LeadOffer.id)))).all()
    assert outcomes == ["expired", "expired"]
    kinds = (await session.exec(select(OutboxMessage.kind).order_by(col(OutboxMessage.id)))).all()
    assert kinds == ["lead_offer", "lead_offer", "lead_pooled"]


async def test_a_group_race_has_exactly_one_winner(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(
        session, name="Alpha", values={"offer_mode": "group", "group_chat": "-100200"}
    )
    reps = [await factories.user(session, team, name=f"R{n}") for n in range(6)]
    lead = await _new_lead(session, team)
    offer = await route(session, lead=lead, team=team, now=utcnow())
    await session.commit()
    assert (offer.user_id, offer.chat_id) == (None, -100200)

    async def tap(rep):
        async with sessions() as own:
            try:
                await offers.claim(own, actor=rep, lead_id=lead.id, now=utcnow())
                return rep.id
            except Conflict:
                return None

    lead_id = lead.id
    winners = [winner for winner in await asyncio.gather(*(tap(rep) for rep in reps)) if winner]
    assert len(winners) == 1
    session.expire_all()
    assert (await session.get_one(Lead, lead_id)).owner_id == winners[0]


async def test_pool_claims_respect_the_cap_and_the_cool_down(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"max_open_leads": "1"})
    anna = await factories.user(session, team, name="Anna")
    anna_id, now = anna.id, utcnow()
    first, second = [(await _new_lead(session, team, name=name)).id for name in ("1", "2")]
    await factories.claim(sessions, anna_id, first, now)
    with pytest.raises(Conflict) as full:
        await factories.claim(sessions, anna_id, second, now)
    assert full.value.code == "cap_reached"
    await lifecycle.release(session, actor=anna, lead_id=first, reason="busy", now=now)
    with pytest.raises(Conflict) as cooling:
        await factories.claim(sessions, anna_id, first, now + timedelta(hours=1))
    assert cooling.value.code == "cooling_down"
    claimed = await factories.claim(sessions, anna_id, first, now + timedelta(days=2))
    assert (claimed.state, claimed.owner_id) == ("owned", anna_id)
    session.expire_all()
    assert (await session.get_one(Lead, second)).owner_id is None


async def test_two_claims_at_once_by_a_rep_one_short_of_the_cap_take_one_lead(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"max_open_leads": "1"})
    anna = await factories.user(session, team, name="Anna")
    anna_id = anna.id
    pooled = [(await _new_lead(session, team, name=name)).id for name in ("1", "2")]

    async def tap(lead_id: int) -> str:
        try:
            await factories.claim(sessions, anna_id, lead_id, utcnow())
            return "claimed"
        except Conflict as refused:
            return refused.code

    assert sorted(await asyncio.gather(*(tap(lead_id) for lead_id in pooled))) == [
        "cap_reached",
        "claimed",
    ]
    session.expire_all()
    owners = (await session.exec(select(Lead.owner_id).where(col(Lead.id).in_(pooled)))).all()
    assert sorted(owners, key=str) == [anna_id, None]


async def test_stale_leads_warn_a_day_before_then_return_to_the_pool(
    session: AsyncSession,
) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"stale_days": "5"})
    anna = await factories.user(session, team, name="Anna")
    now = utcnow()
    lead = await factories.lead(session, team, owner=anna, last_touch_at=now - timedelta(days=4))
    lead_id, anna_id = lead.id, anna.id
    await offers.return_stale(session, now)
    await offers.return_stale(session, now)  # warned once only
    warnings = (await session.exec(select(OutboxMessage))).all()
    assert [(w.kind, w.recipient_id) for w in warnings] == [("stale_warning", anna_id)]
    await offers.return_stale(session, now + timedelta(days=1))
    session.expire_all()
    lead = await session.get_one(Lead, lead_id)
    assert (lead.state, lead.owner_id) == ("pool", None)
