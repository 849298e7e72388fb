"""Small builders for the rows tests need, through the same services the product uses."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import offers, teams, users
from core.models import Lead, LeadState, Team, User, utcnow
from core.pipelines import preset

_next_telegram_id = iter(range(100_001, 10**9))
_next_phone = iter(range(1, 10**7))
#: The default: a different number every time (a team never has two leads of one phone).
UNIQUE = "unique"


async def team(session: AsyncSession, name: str = "Alpha", **values: str) -> Team:
    return await teams.add_team(session, name=name, values=values, default_locale="en")


async def user(
    session: AsyncSession, team: Team | None, role: str = "rep", name: str | None = None
) -> User:
    return await users.add_user(
        session,
        telegram_id=next(_next_telegram_id),
        role=role,
        team_name=team.name if team else None,
        name=name,
    )


async def lead(
    session: AsyncSession,
    team: Team,
    *,
    owner: User | None = None,
    name: str = "Anna Li",
    phone: str | None = UNIQUE,
    created_at: datetime | None = None,
    **fields: Any,
) -> Lead:
    if phone == UNIQUE:
        phone = f"+7916{next(_next_phone):07d}"
    state = fields.pop("state", LeadState.OWNED if owner else LeadState.POOL)
    row = Lead(
        team_id=team.id,
        name=name,
        phone_raw=phone,
        phone_e164=phone,
        owner_id=owner.id if owner else None,
        state=state,
        stage=preset(team.preset).first_stage,
        created_at=created_at or utcnow(),
        budget=fields.pop("budget", None),
        **fields,
    )
    if row.budget is not None:
        row.budget = Decimal(row.budget)
        row.budget_currency = team.currency
    session.add(row)
    await session.commit()
    return row


async def claim(
    sessions: async_sessionmaker[AsyncSession], user_id: int, lead_id: int, now: datetime
) -> Lead:
    """The rep taps Claim (in a request of their own)."""
    async with sessions() as own:
        return await offers.claim(
            own, actor=await own.get_one(User, user_id), lead_id=lead_id, now=now
        )
