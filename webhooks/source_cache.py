"""The lead sources the webhook route has read lately, so that a request need not read its own.

Looking a source and its team up was a fifth of a delivery's CPU. A request now starts from
the source as last read, and nothing is kept on the strength of it: the transaction that
keeps a delivery first checks that neither the source nor its team has changed since
(`core.intake.SourceChanged`), and a delivery that fails that check, or whose signature does
not match the cached secret, is read again with the source as it is now. So a change made
with `leadloop source set` (a new secret, mapping or team) holds from the next delivery on,
as without a cache; only a source's rate may lag, by at most `KEEP_SECONDS`.
"""

import time

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sources
from core.models import LeadSource, Team

#: How long a source read is used before it is read again in any case.
KEEP_SECONDS = 10.0


class SourceCache:
    """Sources and their teams by name, as last read (unknown names are never kept)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._read: dict[str, tuple[float, LeadSource, Team]] = {}

    async def get(self, name: str, *, fresh: bool = False) -> tuple[LeadSource, Team]:
        """The source and its team: as last read, or (`fresh`, or kept too long) as stored now.

        Raises NotFound for a name that is no source.
        """
        now = time.monotonic()
        kept = self._read.get(name)
        if kept is not None and not fresh and now - kept[0] < KEEP_SECONDS:
            return kept[1], kept[2]
        self._read.pop(name, None)
        async with self._sessions() as session:
            source, team = await sources.source_and_team(session, name)
        self._read[name] = (now, source, team)
        return source, team
