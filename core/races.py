"""Losing a race to another transaction, and trying again."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")
ATTEMPTS = 3
#: PostgreSQL's SQLSTATEs for "run the transaction again": a deadlock it broke by aborting
#: this side, a serialization failure.
_TRY_AGAIN = {"40P01", "40001"}


def _lost_race(error: DBAPIError) -> bool:
    """Whether `error` is a race lost to another transaction, which a rerun resolves."""
    return isinstance(error, IntegrityError) or getattr(error.orig, "sqlstate", None) in _TRY_AGAIN


async def retry_on_race(
    session: AsyncSession, work: Callable[[], Awaitable[T]], keep: Sequence[object] = ()
) -> T:
    """Run `work`; when a concurrent writer won a race, roll back and start over.

    A unique index taken first (a lead for that phone, say): the second run sees the
    winner's row and takes the path for a known record, as if the two had come one after
    the other. A deadlock PostgreSQL broke (two deliveries each holding a rep the other
    waits for): the second run finds the survivor's work committed.
    A rollback expires every loaded object; those in `keep` are loaded again for the retry
    (async sessions cannot load lazily).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await work()
        except DBAPIError as error:
            if not _lost_race(error):
                raise
            await session.rollback()
            if attempt == ATTEMPTS:
                raise
            for instance in keep:
                await session.refresh(instance)
    raise AssertionError("unreachable")
