"""Per-source request rates: bursts allowed, a sustained rate enforced, answered with 429.

aiolimiter's leaky bucket holds `burst` requests and drains at `rate` a second; a request
that finds it full is refused at once (never queued: a sender waiting on us would time out).
"""

import math

from aiolimiter import AsyncLimiter


class SourceRates:
    def __init__(self) -> None:
        self._limiters: dict[str, tuple[float, int, AsyncLimiter]] = {}

    async def retry_after(self, source: str, rate: float, burst: int) -> int | None:
        """None if the request may go ahead (and counts it), else seconds to wait."""
        known = self._limiters.get(source)
        if known is None or known[:2] != (rate, burst):
            known = (rate, burst, AsyncLimiter(burst, burst / rate))
            self._limiters[source] = known
        limiter = known[2]
        if not limiter.has_capacity():
            return max(1, math.ceil(1 / rate))
        await limiter.acquire()  # returns at once: the capacity was just there
        return None
