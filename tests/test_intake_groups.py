"""Deliveries written together (`intake.receive_all`, the webhook's `IntakeGroups`): the
outcome is what writing them one after the other would give, in one transaction."""

import asyncio
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake, rules, sources, users
from core.db import create_engine, in_shapes, session_factory
from core.errors import InvalidInput
from core.models import LeadOffer, LeadSource, OutboxMessage, Team, User, WebhookDelivery, utcnow
from tests import factories
from tests.faults import refuse
from tests.intakekit import activities_of, add_source, lead_json, leads_of
from webhooks.intake_groups import IntakeGroups

JSON = {"content-type": "application/json"}


async def _pending(
    session: AsyncSession, body: bytes, headers: dict[str, str] | None = None
) -> intake.Pending:
    """A delivery to the source "site", read as the webhook route reads it (no session)."""
    source, team = await sources.source_and_team(session, "site")
    session.expunge_all()
    return await intake.prepare(source, team, {**JSON, **(headers or {})}, body)


async def _reps(session: AsyncSession, team: Team) -> dict[str, User]:
    rows = await session.exec(select(User).where(User.team_id == team.id))
    return {user.display_name: user for user in rows.all()}


async def _journal(session: AsyncSession) -> list[tuple[str, int | None]]:
    rows = await session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id)))
    return [(row.outcome, row.lead_id) for row in rows.all()]


async def _pushes(session: AsyncSession) -> list[tuple[str, int | None]]:
    rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
    return [(row.kind, row.recipient_id) for row in rows.all()]


async def test_a_group_is_kept_as_if_its_deliveries_came_one_after_another(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    reps = await _reps(session, team)
    anna, boris = reps["Anna"].id, reps["Boris"].id
    group = [
        await _pending(session, lead_json("Lena", "+79123456789")),
        await _pending(session, lead_json("Oleg", "+79001112233"), {"idempotency-key": "o-1"}),
        await _pending(session, lead_json("Lena again", "8 (912) 345-67-89", comment="Call me")),
        await _pending(session, lead_json("Nobody")),
        await _pending(session, lead_json("Oleg", "+79001112233"), {"idempotency-key": "o-1"}),
        await _pending(session, lead_json("Ivan", email="Ivan@Example.com")),
    ]

    outcomes = await intake.receive_all(session, group, utcnow())

    leads = await leads_of(session)
    assert [(lead.name, lead.state, lead.owner_id) for lead in leads] == [
        ("Lena", "offered", anna),
        ("Oleg", "offered", boris),
        ("Ivan", "offered", anna),  # round robin went on as if one lead after another
    ]
    lena, oleg, ivan = (lead.id for lead in leads)
    accepted = [(o.outcome, o.lead_ids) for o in outcomes if isinstance(o, intake.Received)]
    assert accepted == [
        ("accepted", [lena]),
        ("accepted", [oleg]),
        ("accepted", [lena]),  # the same person: her lead, not a second one
        ("duplicate", []),
        ("accepted", [ivan]),
    ]
    assert isinstance(outcomes[3], InvalidInput) and outcomes[3].params["field"] == "phone"
    assert await _journal(session) == [
        ("accepted", lena),
        ("accepted", oleg),
        ("accepted", lena),
        ("rejected", None),
        ("duplicate", None),
        ("accepted", ivan),
    ]
    assert await activities_of(session) == [(lena, "Call me", "up")]
    assert await _pushes(session) == [
        ("lead_offer", anna),
        ("lead_offer", boris),
        ("lead_offer", anna),
        ("lead_returned", anna),  # the rep she was offered to hears she asked again
    ]
    offered = (await session.exec(select(LeadOffer.lead_id).order_by(col(LeadOffer.id)))).all()
    assert offered == [lena, oleg, ivan]


async def test_a_group_fills_a_rep_to_their_cap_then_the_next_then_the_pool(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    reps = await _reps(session, team)
    await users.update_user(session, telegram_id=reps["Anna"].telegram_id, max_open_leads=1)
    await users.update_user(session, telegram_id=reps["Boris"].telegram_id, max_open_leads=2)
    group = [await _pending(session, lead_json(f"P{n}", f"+7900000000{n}")) for n in range(5)]

    await intake.receive_all(session, group, utcnow())

    owners = [(lead.name, lead.owner_id) for lead in await leads_of(session)]
    anna, boris = reps["Anna"].id, reps["Boris"].id
    assert owners == [("P0", anna), ("P1", boris), ("P2", boris), ("P3", None), ("P4", None)]
    maria = reps["Maria"].id
    assert [push for push in await _pushes(session) if push[0] == "lead_pooled"] == [
        ("lead_pooled", maria),
        ("lead_pooled", maria),
    ]


async def test_a_delivery_that_cannot_be_stored_costs_only_itself(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    good = await _pending(session, lead_json("Lena", "+79123456789"))
    refused = await _pending(session, lead_json("Ivan", "+79005550000"))
    late = await _pending(session, lead_json("Oleg", "+79001112233"))
    await refuse(session, event="INSERT", table="leads", when="NEW.name = 'Ivan'")
    try:
        outcomes = await intake.receive_all(session, [good, refused, late], utcnow())
    finally:
        await refuse(session, event="INSERT", table="leads", on=False)

    assert [type(outcome) for outcome in outcomes[::2]] == [intake.Received] * 2
    assert isinstance(outcomes[1], SQLAlchemyError)
    assert [lead.name for lead in await leads_of(session)] == ["Lena", "Oleg"]
    assert [outcome for outcome, _ in await _journal(session)] == ["accepted", "accepted"]


async def test_a_delivery_read_before_its_source_changed_is_kept_out_to_be_read_again(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    before = await _pending(session, lead_json("Lena", "+79123456789"))
    gone = LeadSource(id=9999, name="gone", kind="generic", team_id=team.id)
    orphan = intake.Pending(gone, before.team, before.delivery, before.found)  # no such source
    await sources.update_source(session, name="site", values={"mapping": ["name=full_name"]})
    after = await _pending(
        session, json.dumps({"full_name": "Oleg", "phone": "+79001112233"}).encode()
    )

    outcomes = await intake.receive_all(session, [before, orphan, after], utcnow())

    assert [type(outcome) for outcome in outcomes] == [
        intake.SourceChanged,
        intake.SourceChanged,
        intake.Received,
    ]
    assert [lead.name for lead in await leads_of(session)] == ["Oleg"]
    assert [outcome for outcome, _ in await _journal(session)] == ["accepted"]


async def test_deliveries_arriving_together_share_one_transaction_and_each_gets_its_answer(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    team: Team,
) -> None:
    await add_source(session, "site", "generic")
    bodies = [lead_json(f"P{n}", f"+7900000000{n}") for n in range(8)]
    group = [await _pending(session, body) for body in bodies]
    group.append(await _pending(session, lead_json("Nobody")))
    commits: list[Any] = []
    sa.event.listen(engine.sync_engine, "commit", commits.append)
    writer = IntakeGroups(sessions, utcnow)

    answers = await asyncio.gather(
        *(writer.receive(pending) for pending in group), return_exceptions=True
    )

    assert len(commits) == 1
    leads = await leads_of(session)
    assert [answer.lead_ids for answer in answers[:8]] == [[lead.id] for lead in leads]
    assert isinstance(answers[8], InvalidInput)
    assert [outcome for outcome, _ in await _journal(session)] == ["accepted"] * 8 + ["rejected"]


async def test_a_rep_chosen_under_one_rule_waits_their_turn_under_the_next(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    reps = await _reps(session, team)
    anna, boris = reps["Anna"], reps["Boris"]
    await rules.add_rule(
        session,
        team_name="Alpha",
        match="region=north",
        strategy="to-user",
        user_telegram_id=anna.telegram_id,
    )
    group = [
        await _pending(session, lead_json("North", "+79000000001", region="north")),
        await _pending(session, lead_json("P1", "+79000000002")),
        await _pending(session, lead_json("P2", "+79000000003")),
        await _pending(session, lead_json("P3", "+79000000004")),
    ]

    await intake.receive_all(session, group, utcnow())

    owners = [lead.owner_id for lead in await leads_of(session)]
    assert owners == [anna.id, boris.id, anna.id, boris.id]


async def test_a_known_person_deep_in_a_large_batch_comes_back_to_their_lead(
    session: AsyncSession, team: Team
) -> None:
    """The dedup read goes a thousand contacts at a time (a database takes only so many
    parameters); a person past the first thousand is still found."""
    await add_source(session, "site", "generic")
    await intake.receive_all(
        session, [await _pending(session, lead_json("Lena", "+79123456789"))], utcnow()
    )
    people = [{"name": f"P{n}", "phone": f"+7900{n:07d}"} for n in range(1100)]
    people[1050] = {"name": "Lena again", "phone": "8 912 345 67 89"}
    batch = await _pending(session, json.dumps(people).encode())

    [received] = await intake.receive_all(session, [batch], utcnow())

    leads = await leads_of(session)
    assert len(leads) == 1 + 1099
    assert received.lead_ids[1050] == leads[0].id
    assert [lead.name for lead in leads].count("Lena again") == 0


async def test_turns_taken_under_one_rule_move_the_next_rule_on_past_its_first_reps(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    await factories.user(session, team, name="Carl")
    reps = await _reps(session, team)
    for name, credit in (("Anna", 0.0), ("Boris", 0.5), ("Carl", 0.6)):
        reps[name].route_credit = credit
    reps["Anna"].max_open_leads = reps["Boris"].max_open_leads = 1
    await session.commit()
    await rules.add_rule(
        session,
        team_name="Alpha",
        match="region=north",
        strategy="to-user",
        user_telegram_id=reps["Boris"].telegram_id,
    )
    group = [
        await _pending(session, lead_json("P1", "+79000000001")),
        await _pending(session, lead_json("North", "+79000000002", region="north")),
        await _pending(session, lead_json("P2", "+79000000003")),
    ]

    await intake.receive_all(session, group, utcnow())

    owners = [(lead.name, lead.owner_id) for lead in await leads_of(session)]
    assert owners == [("P1", reps["Anna"].id), ("North", reps["Boris"].id), ("P2", reps["Carl"].id)]


async def test_a_redelivery_is_a_duplicate_even_if_it_would_now_be_refused(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    body = lead_json("Lena", "8 (912) 345-67-89")
    headers = {"idempotency-key": "evt-1"}
    [first] = await intake.receive_all(session, [await _pending(session, body, headers)], utcnow())
    team.country = "US"  # the national number no longer parses: as new, it would be refused
    session.add(team)
    await session.commit()

    [again] = await intake.receive_all(session, [await _pending(session, body, headers)], utcnow())

    assert (first.outcome, again) == ("accepted", intake.Received("duplicate", []))
    assert await _journal(session) == [("accepted", first.lead_ids[0]), ("duplicate", None)]


async def test_a_person_asking_twice_in_one_group_is_told_to_their_rep_twice(
    session: AsyncSession, team: Team
) -> None:
    await add_source(session, "site", "generic")
    await intake.receive_all(
        session, [await _pending(session, lead_json("Lena", "+79123456789"))], utcnow()
    )
    again = [
        await _pending(session, lead_json("Lena", "+79123456789", comment=text))
        for text in ("Still there?", "Call me")
    ]

    await intake.receive_all(session, again, utcnow())

    assert [kind for kind, _ in await _pushes(session)] == ["lead_offer"] + ["lead_returned"] * 2


async def test_with_the_database_away_a_group_is_refused_at_once_not_one_by_one(
    team: Team, session: AsyncSession
) -> None:
    await add_source(session, "site", "generic")
    group = [await _pending(session, lead_json(f"P{n}", f"+7900000000{n}")) for n in range(6)]
    silent = await asyncio.start_server(lambda *_: asyncio.sleep(60), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]  # a server that accepts and never answers
    away = create_engine(f"postgresql://u@127.0.0.1:{port}/x", connect_args={"timeout": 0.2})
    attempts: list[Any] = []
    sa.event.listen(away.sync_engine, "do_connect", lambda *_: attempts.append(1))
    writer = IntakeGroups(session_factory(away), utcnow)

    answers = await asyncio.gather(*(writer.receive(p) for p in group), return_exceptions=True)

    await away.dispose()
    silent.close()
    assert all(isinstance(answer, intake.NOT_STORED) for answer in answers)
    assert len(attempts) == 1


def test_multi_row_statements_come_in_a_few_sizes_only() -> None:
    """Each size is a statement the database keeps prepared per connection: groups of any
    size from 1 to 64 are written in pieces of powers of two, at most 64 rows."""
    sizes = {len(piece) for n in range(1, 200) for piece in in_shapes(list(range(n)))}
    assert sizes == {1, 2, 4, 8, 16, 32, 64}
    assert [len(piece) for piece in in_shapes(list(range(13)))] == [8, 4, 1]
    assert [x for piece in in_shapes(list(range(200))) for x in piece] == list(range(200))
