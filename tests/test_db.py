"""The database layer: connections shared and reused, reads that stay cheap as tables grow."""

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import leads
from core.db import (
    Rows,
    create_engine,
    insert_returning,
    insert_together,
    read_session_factory,
    session_factory,
)
from core.models import Lead, LeadSource, OutboxMessage, StageChange, utcnow
from core.pipelines import preset
from tests import factories

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_STAGES = StageChange.__table__  # type: ignore[attr-defined]


async def test_sqlite_sessions_give_their_connection_back_as_they_end(database_url: str) -> None:
    """Fifty requests reading at once on SQLite share one connection: each is back in the
    pool when its session ends, not a turn of the event loop later (then every request in
    flight held a connection of its own, and each costs SQLite memory)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's own: a PostgreSQL session closes in a task of its own")
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    async def lookup() -> None:
        async with sessions() as session:
            await session.exec(select(LeadSource).where(LeadSource.name == "tilda"))

    try:
        await asyncio.gather(*(lookup() for _ in range(50)))
        assert engine.sync_engine.pool.checkedin() == 1
        assert engine.sync_engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_postgresql_sessions_reuse_the_connection_used_last(database_url: str) -> None:
    """After a burst has opened several connections, one request after another runs on the
    same server process: its statements are prepared there already. Handed out in turns,
    each connection prepared each statement once more (`parse` in the server's log), and
    the first few hundred leads after a start paid for it."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's: on SQLite the sessions share one connection already")
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    async def backend(hold: float = 0) -> int:
        async with sessions() as session:
            pid = (await session.exec(sa.select(sa.func.pg_backend_pid()))).one()
            await asyncio.sleep(hold)
            return int(pid[0])

    try:
        burst = await asyncio.gather(*(backend(hold=0.05) for _ in range(6)))
        assert len(set(burst)) == 6
        one_by_one = [await backend() for _ in range(12)]
        assert len(set(one_by_one)) == 1
    finally:
        await engine.dispose()


async def test_the_dedup_read_looks_contacts_up_rather_than_walking_the_team(
    session: AsyncSession, database_url: str
) -> None:
    """Each intake reads the team's leads with the delivery's phones or emails: in the
    phone and email indexes, so its cost does not grow with the team — on PostgreSQL also
    without statistics (a new table, autovacuum not yet run: then it took the team's part
    of the (team, phone) index and read every lead of the team, and `phone IN (…)` read a
    table of 2,000 leads whole, which it took for small)."""
    team = await factories.team(session, "Plans")
    stage = preset(team.preset).first_stage
    leads_in_team = 100 if database_url.startswith("sqlite") else 2000
    session.add_all(
        Lead(team_id=team.id, name=f"L{n}", phone_e164=f"+1415551{n:04d}", stage=stage)
        for n in range(leads_in_team)
    )
    await session.commit()
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    engine = session.bind.sync_engine
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        await leads.duplicates_of(
            session, team_id=team.id, phones=[f"+141555501{n:02d}" for n in range(16)], emails=[]
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    statement, parameters = statements[-1]
    connection = await session.connection()
    if database_url.startswith("sqlite"):
        plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        steps = [row[-1] for row in plan if "SEARCH" in row[-1] or "SCAN" in row[-1]]
    else:
        plan = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        steps = [
            f"{node['Node Type']} on {node.get('Index Name')}: {node.get('Index Cond')}"
            for node in _plan_nodes(plan.scalar_one()[0]["Plan"])
            if "Index Name" in node or node["Node Type"] == "Seq Scan"
        ]
    assert len(steps) == 2, steps
    phones, emails = steps
    assert "phone_e164" in phones and "email" in emails, steps


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A PostgreSQL plan's node and all those below it."""
    return [node, *(below for child in node.get("Plans", []) for below in _plan_nodes(child))]


async def test_postgresql_read_sessions_run_each_statement_without_a_transaction(
    database_url: str,
) -> None:
    """A push is rendered from a read alone: no BEGIN and ROLLBACK around it on PostgreSQL,
    each statement is a transaction of its own."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's: SQLite's sessions cost no round trips")
    engine = create_engine(database_url)
    transaction = sa.text("SELECT txid_current()")
    try:
        for sessions, alone in (
            (read_session_factory(engine), True),
            (session_factory(engine), False),
        ):
            async with sessions() as session:
                first = (await session.exec(transaction)).scalar_one()
                second = (await session.exec(transaction)).scalar_one()
            assert (first != second) is alone
    finally:
        await engine.dispose()


async def test_rows_are_added_to_several_tables_at_once_and_taken_keys_skipped(
    session: AsyncSession,
) -> None:
    """`insert_together` (one statement on PostgreSQL) adds each table's rows, JSON and all,
    and skips a row whose unique key is taken, in the table or among the rows themselves;
    `insert_returning` tells which rows it added."""
    team = await factories.team(session)
    lead = await factories.lead(session, team)
    now = utcnow()
    pushed = {"kind": "lead_offer", "params": {"name": "Анна", "n": 1}, "chat_id": 7}
    pushes = [
        {
            **pushed,
            "dedup_key": key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "recipient_id": None,
        }
        for key in ("a", "b", "a")
    ]
    stages = [{"lead_id": lead.id, "to_stage": stage, "at": now} for stage in ("new", "won")]
    await insert_together(
        session, [Rows(_OUTBOX, pushes, unique=("dedup_key",)), Rows(_STAGES, stages)]
    )
    added = await insert_returning(
        session,
        Rows(_OUTBOX, [{**pushes[0], "dedup_key": key} for key in ("b", "c")], ("dedup_key",)),
        (_OUTBOX.c.dedup_key,),
    )
    await session.commit()
    assert [row.dedup_key for row in added] == ["c"]
    queued = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [(row.dedup_key, row.params) for row in queued] == [
        ("a", {"name": "Анна", "n": 1}),
        ("b", {"name": "Анна", "n": 1}),
        ("c", {"name": "Анна", "n": 1}),
    ]
    moves = (await session.exec(select(StageChange.to_stage, StageChange.at))).all()
    assert sorted(moves) == [("new", now), ("won", now)]
