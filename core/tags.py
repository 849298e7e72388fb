"""Tags: short labels a team puts on leads (`#referral`, `#vip`)."""

import re
from collections.abc import Iterable

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import InvalidInput
from core.models import Lead, LeadTag, Tag

_TAG = re.compile(r"^[\w\-]{1,64}$")


def clean(name: str) -> str:
    """A tag as stored: without '#', lower case, letters, digits, '_' and '-'."""
    tag = name.strip().lstrip("#").lower()
    if not _TAG.match(tag):
        raise InvalidInput(f"{name!r} is not a tag: use letters, digits, _ or -", code="tag")
    return tag


async def attach(session: AsyncSession, lead: Lead, names: Iterable[str]) -> list[str]:
    """Put tags on a lead (creating the team's tags as needed); returns the ones added."""
    current = set(await of_lead(session, lead.id or 0))
    added = []
    for tag in dict.fromkeys(clean(name) for name in names):
        if tag in current:
            continue
        row = (
            await session.exec(select(Tag).where(Tag.team_id == lead.team_id, Tag.name == tag))
        ).first()
        if row is None:
            row = Tag(team_id=lead.team_id, name=tag)
            session.add(row)
            await session.flush()
        session.add(LeadTag(lead_id=lead.id or 0, tag_id=row.id or 0))
        added.append(tag)
    return added


async def detach(session: AsyncSession, lead: Lead, name: str) -> None:
    tag_ids = select(Tag.id).where(Tag.team_id == lead.team_id, Tag.name == clean(name))
    await session.exec(
        delete(LeadTag).where(col(LeadTag.lead_id) == lead.id, col(LeadTag.tag_id).in_(tag_ids))
    )


async def of_lead(session: AsyncSession, lead_id: int) -> list[str]:
    """The lead's tag names, in name order."""
    return list((await of_lead_by_id(session, lead_id)).values())


async def of_team_by_id(session: AsyncSession, team_id: int) -> dict[int, str]:
    """The team's tags by id, in name order: buttons name a tag by its short id."""
    query = select(Tag.id, Tag.name).where(Tag.team_id == team_id).order_by(col(Tag.name))
    return {tag_id or 0: name for tag_id, name in (await session.exec(query)).all()}


async def of_lead_by_id(session: AsyncSession, lead_id: int) -> dict[int, str]:
    """The lead's tags by id, in name order."""
    query = (
        select(Tag.id, Tag.name)
        .join(LeadTag)
        .where(LeadTag.lead_id == lead_id)
        .order_by(col(Tag.name))
    )
    return {tag_id or 0: name for tag_id, name in (await session.exec(query)).all()}
