"""Pacing and retry rules for the outbox sender: per-chat lanes, limiters, backoff.

aiolimiter's `AsyncLimiter` is a leaky bucket that makes a caller wait for its turn instead of
failing: aiogram has no flood control of its own (a 429 just raises).
"""

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramServerError,
)
from aiolimiter import AsyncLimiter

from core import outbox

#: The wait after a row's first failed attempt; it doubles with each attempt, up to RETRY_CAP.
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(minutes=30)

# Rows held in memory must all go out well within their lease, or another pass (or instance)
# would claim them again and send them twice.
HOLD_SECONDS = outbox.CLAIM_LEASE.total_seconds() / 4
# Errors after which the same request may well succeed later.
TRANSIENT = (
    TelegramNetworkError,
    TelegramServerError,
    ClientDecodeError,
    aiohttp.ClientError,
    TimeoutError,
)
# A row that is due but not claimable (another instance is claiming it) is looked at again soon.
MIN_WAIT_SECONDS = 0.05


def backoff(attempts: int) -> timedelta:
    """The wait before trying again a message that has failed `attempts` times."""
    return min(RETRY_BASE * 2 ** min(max(attempts - 1, 0), 20), RETRY_CAP)


def limiter(per_second: float) -> AsyncLimiter:
    # One at a time, evenly spaced: a burst allowance could exceed Telegram's limits at once.
    return AsyncLimiter(1, 1 / per_second)


class Window:
    """At most `per_second` in any second, a sixth of them at once: the bot's overall pace.

    Evenly spaced sends (`limiter`) made a push that came 10 ms after another wait 23 ms for
    its turn at Telegram's 30 a second, though the bot was far below it: up to 33 ms added to
    a lead's speed to its rep. Here up to a sixth of a second's messages go at
    once and none waits while fewer were sent in the last sixth of a second (no more than
    `per_second` in any second still). aiolimiter's leaky bucket cannot say that: with room
    for a burst it lets the burst and the steady rate into the same second. Callers queue on
    a lock in order; the first sleeps until the oldest send of the window has aged out.
    """

    def __init__(self, per_second: float) -> None:
        self._size = max(1, int(per_second // 6))
        self._seconds = self._size / per_second
        self._sent: deque[float] = deque(maxlen=self._size)
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._turn:
            loop = asyncio.get_running_loop()
            if len(self._sent) == self._size:
                await asyncio.sleep(self._sent[0] + self._seconds - loop.time())
            self._sent.append(loop.time())


def is_permanent(error: Exception) -> bool:
    """Telegram refused the request itself (a 4xx): sending it again cannot help."""
    if isinstance(error, TelegramEntityTooLarge):
        return True
    return isinstance(error, TelegramAPIError) and not isinstance(error, TRANSIENT)


@dataclass
class Lane:
    """One chat's pacing: its limiter, the lock that keeps its rows in order, what it holds."""

    rate: float  # messages a second
    limiter: AsyncLimiter
    capacity: int  # rows it may hold in memory at once
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: int = 0
    flood_until: datetime | None = None  # after a 429 nothing goes to the chat before then
    backlog_until: datetime | None = None  # rows beyond capacity were handed back until then

    def resumes_at(self, now: datetime) -> datetime | None:
        """When the chat takes newly claimed rows again (None: it takes them now)."""
        pauses = (self.flood_until, self.backlog_until)
        return max((at for at in pauses if at is not None and at > now), default=None)

    def idle(self, now: datetime) -> bool:
        return self.held == 0 and not self.lock.locked() and self.resumes_at(now) is None


@dataclass(frozen=True)
class Halt:
    """Telegram said to stop sending to a chat: until a time (429) or for good (403)."""

    error: str
    until: datetime | None = None
