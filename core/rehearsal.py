"""A made-up lead taken through intake at start-up and rolled back, leaving no trace.

The first lead after a start pays for what is done once per process or per connection:
SQLAlchemy compiling each of intake's statements, PostgreSQL preparing them, phonenumbers
loading the team's region. On PostgreSQL that made it ~90-120 ms against ~15 for the next,
and the leads that came while it was written waited behind it. Rehearsed, it costs the start
instead: the real first lead finds all of it done.
"""

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from core.db import rolled_back
from core.intake import Delivery, Pending, receive_all
from core.intake_items import people
from core.mapping import Inbound
from core.models import LeadSource, Team, utcnow


async def rehearse(engine: AsyncEngine) -> bool:
    """Write a lead for the first source as a real one would be, then roll all of it back.

    Whether there was a source to rehearse with. Nothing is kept: the intake's commits only
    end a savepoint inside a transaction that is rolled back (on PostgreSQL the leads' id
    sequence still moves on by one: ids may skip a number after a restart).
    """
    async with rolled_back(engine) as session:
        found = (
            await session.exec(
                select(LeadSource, Team)
                .join(Team, col(Team.id) == col(LeadSource.team_id))
                .order_by(col(LeadSource.id))
                .limit(1)
            )
        ).first()
        if found is not None:
            await receive_all(session, [_made_up(*found)], utcnow())
    return found is not None


def _made_up(source: LeadSource, team: Team) -> Pending:
    """A delivery of one person with a phone of the team's region, as a form would send it."""
    number = phonenumbers.example_number(team.country) or phonenumbers.example_number("US")
    phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    found, _ = people([Inbound(name="Rehearsal", phone=phone)], team)
    return Pending(source, team, Delivery({}, b"{}", "leadloop:rehearsal"), found)
