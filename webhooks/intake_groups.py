"""Deliveries that arrive together are written together.

While one group is being written, the deliveries that arrive wait; the next group is all of
them (up to `MAX_GROUP`), written in one transaction by `core.intake.receive_all`. Most of a
group's cost is the same for one delivery as for sixteen, so under load the writer also
lingers (at most `LINGER_SECONDS`) until as many are waiting as its last group held: senders
answered together come back together, and without it they were written in a few small
groups (1, 4 and 11 of 16 senders, in turns). At a low rate the last group held one: a
delivery is written at once.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake

#: Bounds one transaction's length, and so how long the others in it wait for their answer.
MAX_GROUP = 64
#: The longest a group waits to fill up.
LINGER_SECONDS = 0.005


#: A delivery waiting for its group, and where its outcome goes.
Waiting = tuple[intake.Pending, "asyncio.Future[intake.Received]"]


class IntakeGroups:
    """One writer task at a time for the router's deliveries; each waits for its own outcome."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self._waiting: list[Waiting] = []
        self._writing: list[Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self._expected = 1
        #: Set while the writer lingers: done once enough deliveries wait.
        self._filled: asyncio.Future[None] | None = None

    async def receive(self, pending: intake.Pending) -> intake.Received:
        """Write the delivery with those waiting beside it; its outcome, or its error raised."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((pending, future))
        if self._filled is not None and len(self._waiting) >= self._expected:
            _settle(self._filled, None)
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                await self._linger()
                self._writing = self._waiting[:MAX_GROUP]
                del self._waiting[:MAX_GROUP]
                self._expected = len(self._writing)
                outcomes = await self._write([pending for pending, _ in self._writing])
                for (_, future), outcome in zip(self._writing, outcomes, strict=True):
                    _settle(future, outcome)
                self._writing = []
        except BaseException as error:
            # The writer itself failed or was cancelled: none of its deliveries waits for ever.
            stranded = self._writing + self._waiting
            self._writing, self._waiting = [], []
            for _, future in stranded:
                if isinstance(error, Exception):
                    _settle(future, error)
                else:
                    future.cancel()
            raise

    async def _linger(self) -> None:
        """Wait (briefly) until as many deliveries wait as the last group held."""
        if len(self._waiting) >= self._expected:
            return
        self._filled = asyncio.get_running_loop().create_future()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LINGER_SECONDS):
                    await self._filled
        finally:
            self._filled = None

    async def _write(self, pendings: list[intake.Pending]) -> list[intake.Outcome]:
        try:
            async with self._sessions() as session:
                return await intake.receive_all(session, pendings, self._clock())
        except Exception as error:  # each sender is told, by its own request
            return [error] * len(pendings)


def _settle(future: "asyncio.Future[Any]", outcome: object) -> None:
    """Give a waiting future its outcome (an exception is raised to its request)."""
    if future.done():  # its request was cancelled: the write stands all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
