"""The clock: APScheduler 3.11 calling each job on a fixed tick, with its job store in memory.

Jobs are not stored in APScheduler (the database already says what is due), so every instance
may tick; the jobs themselves are idempotent.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core.jobs import JOBS, Job
from core.models import utcnow

log = logging.getLogger(__name__)


async def run_job(
    job: Job, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow
) -> None:
    """One run of a job in its own session; a failure is logged and the next tick tries again."""
    try:
        async with sessions() as session:
            await job.run(session, clock())
    except Exception:
        log.exception("scheduled job %s failed", job.id)


def build_scheduler(
    sessions: async_sessionmaker[AsyncSession], jobs: Sequence[Job] = JOBS
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 1},
        timezone="UTC",
    )
    for job in jobs:
        scheduler.add_job(
            run_job,
            "interval",
            seconds=job.every.total_seconds(),
            id=job.id,
            args=[job, sessions],
            next_run_time=utcnow(),
        )
    return scheduler
