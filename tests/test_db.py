"""Engines and sessions: what each connection costs is paid once, not per request."""

import asyncio

import pytest
from sqlmodel import select

from core.db import create_engine, session_factory
from core.models import LeadSource


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
