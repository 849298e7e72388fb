"""The start-up rehearsal: a made-up lead taken through intake, and nothing of it kept."""

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import OutboxMessage, StageChange, User
from core.rehearsal import rehearse
from tests.intakekit import WHSEC, add_source, leads_of, nothing_stored, standard


def _statements(engine: AsyncEngine) -> list[str]:
    """Every statement the engine runs from now on, as sent."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    return sent


async def _rotation(session: AsyncSession) -> list[tuple[str, float]]:
    """Each rep's place in the round robin."""
    query = select(User.display_name, User.route_credit).order_by(col(User.id))
    return list((await session.exec(query.execution_options(populate_existing=True))).all())


async def test_a_rehearsed_lead_goes_through_intake_and_leaves_no_trace(
    engine: AsyncEngine, session: AsyncSession, client: httpx.AsyncClient, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    rotation = await _rotation(session)
    sent = _statements(engine)

    assert await rehearse(engine) is True

    written = [statement for statement in sent if statement.startswith(("INSERT", "WITH"))]
    assert any("INSERT INTO leads" in statement for statement in written)
    assert any("INSERT INTO outbox" in statement for statement in written)
    assert await nothing_stored(session)
    assert (await session.exec(select(OutboxMessage))).all() == []
    assert (await session.exec(select(StageChange))).all() == []
    assert await _rotation(session) == rotation
    body = b'{"name": "Olga", "phone": "+7 912 345 67 89"}'
    response = await client.post("/webhooks/leads/site", content=body, headers=standard(body))
    assert (response.status_code, response.json()["outcome"]) == (200, "accepted")
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164, lead.state) == ("Olga", "+79123456789", "offered")


async def test_without_a_source_there_is_nothing_to_rehearse(
    engine: AsyncEngine, session: AsyncSession, team
) -> None:
    assert await rehearse(engine) is False
    assert await nothing_stored(session)
