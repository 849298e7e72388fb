"""Shared set-up for benchmarks: a migrated throw-away database and resident-memory readings."""

import asyncio
import resource
import tempfile
from pathlib import Path

from core.migrate import upgrade


def fresh_database(url: str | None) -> str:
    """The given database URL, or a new migrated SQLite file in a temporary folder."""
    target = url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='leadloop-bench-')) / 'b.sqlite3'}"
    upgrade(target)
    return target


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(coroutine) -> None:
    asyncio.run(coroutine)
