"""Losing a race to the database's unique indexes, and trying again."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")
ATTEMPTS = 3


async def retry_on_race(
    session: AsyncSession, work: Callable[[], Awaitable[T]], keep: Sequence[object] = ()
) -> T:
    """Run `work`; when a concurrent writer took the same unique key first, start over.

    The second run sees the winner's row (a lead for that phone, say) and takes the path
    for a known record, so the race ends as if the two had come one after the other.
    A rollback expires every loaded object; those in `keep` are loaded again for the retry
    (async sessions cannot load lazily).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await work()
        except IntegrityError:
            await session.rollback()
            if attempt == ATTEMPTS:
                raise
            for instance in keep:
                await session.refresh(instance)
    raise AssertionError("unreachable")
