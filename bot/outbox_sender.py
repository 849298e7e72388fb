"""The outbox sender: the one dispatcher that delivers due outbox rows to Telegram.

Rows are claimed with `core.outbox.claim_due` (a lease, so that other passes and instances skip
them), rendered for their reader at the moment they go out (the readers of the rows claimed
together are read at once), sent (or, when a push replaces an earlier message, edited in
place), and marked sent only once Telegram answered ok. Each database step has a short
session of its own: no transaction stays open while Telegram is called.

Pacing makes a caller wait for its turn instead of failing: aiogram has no flood control of
its own (a 429 just raises), and Telegram lets a bot send about 30 messages a second overall,
one a second to a private chat and 20 a minute to a group. One `pacing.Window` (no more than
the rate in any second) is shared by every chat; each chat also has its own aiolimiter
`AsyncLimiter`, evenly spaced, and sends its rows in order in a task of its own, so a chat
that has to wait never holds up the others.

What Telegram answers decides what becomes of a row:
- ok: marked sent with Telegram's message id;
- 429: the row and the chat's other rows wait `retry_after` seconds (no attempt is counted);
- 403: the recipient blocked the bot: they are marked unreachable, the chat's rows given up;
- another 4xx: the row is given up;
- a network error, a timeout or a 5xx: tried again with exponential backoff, then given up
  after `core.outbox.MAX_ATTEMPTS`.

Delivery is at least once: a row sent but not yet marked sent when the process stops goes out
again when its lease ends.

Use: `await sender.run()` in a task (cancel it to stop); or `sender.start()` and
`await sender.stop()`; or `async with sender:`. Tests may call `await sender.send_due()`.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, Self

from aiogram import Bot
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import Response
from aiogram.types import Message
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.pacing import (
    HOLD_SECONDS,
    MIN_WAIT_SECONDS,
    TRANSIENT,
    Halt,
    Lane,
    Window,
    backoff,
    is_permanent,
    limiter,
)
from bot.rendering import Readers, Rendered
from core import outbox
from core.models import utcnow

log = logging.getLogger(__name__)


class Render(Protocol):
    """Renders outbox rows: their readers are read once for the rows claimed together, then
    each row is rendered as it goes out (`bot.pushes.PushRenderer`)."""

    async def readers(self, session: AsyncSession, messages: Sequence[outbox.Due]) -> Readers:
        """Who reads each of the rows."""

    def __call__(self, message: outbox.Due, readers: Readers) -> Rendered | None:
        """The row as its reader sees it; None: nothing to send."""


#: aiogram parses every answer with `Response[Message]`, and pydantic caches such generic
#: models only while something else holds them: without this reference the model was rebuilt
#: after each garbage collection, costing ~1.5 ms of CPU per message sent (pyinstrument).
_ANSWER_MODEL = Response[Message]
#: How long marking a sent message waits for the next ones to share its write, while more
#: are held. A crash in that time sends them again (delivery is at least once anyway).
MARK_LINGER_SECONDS = 0.2
#: The most claimed rows the sender holds at once, whatever its rate. Telegram's 30/s holds
#: 450 (`HOLD_SECONDS` of sending); at a self-hosted Bot API's pace this is half a second's
#: worth at 1000/s. Each row held cost ~5 KB at the peak, which the process keeps: 1000 held
#: left the server 2 MiB larger than 500 (4 MiB than 200), and sent no faster
#: (benchmarks/README.md).
MAX_HELD = 500


class OutboxSender:
    """Sends due outbox rows to Telegram, paced per chat and overall (see the module docs)."""

    #: How many chats' pacing states are kept; the least recently used idle one goes first.
    max_chats = 10_000

    def __init__(
        self,
        *,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        render: Render,
        reads: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], datetime] = utcnow,
        global_rate: float = 30,
        private_per_second: float = 1,
        group_per_minute: float = 20,
        batch_size: int = 100,
        idle_check_seconds: float = 5,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.render = render
        #: Sessions for reading who reads the rows: reads only (`core.db.read_session_factory`).
        self.reads = reads or sessions
        self.clock = clock
        self.private_per_second = private_per_second
        self.group_per_second = group_per_minute / 60
        self.batch_size = batch_size
        self.idle_check_seconds = idle_check_seconds
        self._global = Window(global_rate)
        # Rows held are rows in memory: at a self-hosted Bot API's pace 15 seconds' worth is
        # tens of thousands, which grew the process for good (Python keeps its peak).
        self._capacity = max(1, min(int(global_rate * HOLD_SECONDS), MAX_HELD))
        # While rows are held, more are claimed once there is room for a second's sending:
        # claiming each slot as it freed cost a claim transaction per message sent whenever
        # a backlog had formed.
        self._refill = min(batch_size, max(1, int(global_rate)), self._capacity)
        self._held = 0  # claimed rows not yet settled
        self._lanes: OrderedDict[int, Lane] = OrderedDict()
        self._woken = asyncio.Event()
        self._sent: list[outbox.Sent] = []  # sent, not yet marked (see _record)
        self._recording = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._passes: set[asyncio.Task[int]] = set()
        self._task: asyncio.Task[None] | None = None

    # -- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Send due rows until cancelled; woken by commits that add rows, else by the clock."""
        self._loop = asyncio.get_running_loop()
        outbox.subscribe(self.wake)
        try:
            while True:
                self._woken.clear()
                wait = await self._tick()
                # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives
                # as the event is set, and stop() then waited for this loop forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._woken.wait()
        finally:
            outbox.unsubscribe(self.wake)
            passes = list(self._passes)
            for task in passes:
                task.cancel()
            await asyncio.gather(*passes, return_exceptions=True)
            await self._mark_sent()  # what a cancelled pass sent but had not marked yet

    def wake(self) -> None:
        """Look for due rows now: core.outbox calls it right after a commit that added rows."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None or running is self._loop:
            self._woken.set()
            return
        # A commit in another thread; this runs inside its commit, so it must never raise.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._woken.set)

    def start(self) -> None:
        """Run the loop in a background task until stop()."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="outbox-sender")

    async def stop(self) -> None:
        """End the loop; rows being sent stay leased and go out again when their lease ends."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def send_due(self) -> int:
        """One pass: claim the due rows there is room for, send them; returns how many were sent."""
        rows, _ = await self._claim()
        return await self._send_rows(rows) if rows else 0

    async def _tick(self) -> float:
        """Claim due rows and start sending them; returns the seconds until the next look."""
        try:
            rows, limit = await self._claim()
            if not rows:
                return await self._seconds_to_next()
            self._spawn(self._send_rows(rows))
            # More may be due at once; else the pass wakes the loop when it ends (and a commit
            # adding rows, sooner), so the next due time need not be looked up under load.
            return MIN_WAIT_SECONDS if len(rows) == limit else self.idle_check_seconds
        except Exception:  # the database may be away for a while: keep looking
            log.exception("the outbox sender could not read the outbox")
            return self.idle_check_seconds

    def _spawn(self, sending: Coroutine[Any, Any, int]) -> None:
        # Not awaited, so that the next rows are claimed while a slow chat is still sending.
        task = asyncio.create_task(sending, name="outbox-pass")
        self._passes.add(task)
        task.add_done_callback(self._pass_done)

    def _pass_done(self, task: asyncio.Task[int]) -> None:
        self._passes.discard(task)
        self.wake()  # there is room for more rows now

    async def _seconds_to_next(self) -> float:
        if not self._room():
            return self.idle_check_seconds  # a finishing pass wakes the loop sooner
        async with self.sessions() as session:
            due = await outbox.next_due_at(session)
        if due is None:
            return self.idle_check_seconds
        wait = (due - self.clock()).total_seconds()
        return min(max(wait, MIN_WAIT_SECONDS), self.idle_check_seconds)

    # -- one pass --------------------------------------------------------------------------

    def _room(self) -> int:
        """How many rows to claim now (none while rows are held and there is little room)."""
        room = min(self.batch_size, self._capacity - self._held)
        return room if room >= self._refill or not self._held else 0

    async def _claim(self) -> tuple[list[outbox.Due], int]:
        """The due rows claimed (as many as there is room for), and how many that was at most."""
        limit = self._room()
        if limit <= 0:
            return [], 0
        async with self.sessions() as session:
            rows = await outbox.claim_due(session, now=self.clock(), limit=limit)
        self._held += len(rows)
        return rows, limit

    async def _send_rows(self, rows: list[outbox.Due]) -> int:
        """Send a claimed batch, one task per chat; rows a chat has no room for go back."""
        readers = await self._readers(rows)
        now = self.clock()
        chats: dict[int, tuple[Lane, list[outbox.Due]]] = {}
        deferred: list[tuple[outbox.Due, datetime]] = []
        for row in rows:
            lane = self._lane(row.chat_id)
            resume = self._admit(lane, now)
            if resume is None:
                chats.setdefault(row.chat_id, (lane, []))[1].append(row)
            else:
                deferred.append((row, resume))
        jobs = [self._send_chat(lane, chat_rows, readers) for lane, chat_rows in chats.values()]
        results = await asyncio.gather(self._defer(deferred), *jobs, return_exceptions=True)
        sent = 0
        for result in results:
            if isinstance(result, BaseException):
                log.error("sending outbox rows failed", exc_info=result)
            else:
                sent += result
        return sent

    def _lane(self, chat_id: int) -> Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            if len(self._lanes) >= self.max_chats:
                self._evict()
            rate = self.private_per_second if chat_id > 0 else self.group_per_second
            capacity = max(1, int(rate * HOLD_SECONDS))
            lane = self._lanes[chat_id] = Lane(rate, limiter(rate), capacity)
        self._lanes.move_to_end(chat_id)
        return lane

    def _evict(self) -> None:
        """Forget the least recently used idle chats (busy ones stay, so the dict may overshoot)."""
        now = self.clock()
        for chat_id, lane in list(self._lanes.items()):
            if len(self._lanes) < self.max_chats:
                return
            if lane.idle(now):
                del self._lanes[chat_id]

    def _admit(self, lane: Lane, now: datetime) -> datetime | None:
        """None if the chat takes one more row now, else when the row should come back."""
        resume = lane.resumes_at(now)
        if resume is None and lane.held >= lane.capacity:
            # Back when the chat has sent what it holds; later rows wait too, to keep the order.
            resume = lane.backlog_until = now + timedelta(seconds=lane.held / lane.rate)
        if resume is None:
            lane.held += 1
        return resume

    async def _defer(self, rows: list[tuple[outbox.Due, datetime]]) -> int:
        """Hand back rows a chat cannot take now, without counting an attempt."""
        try:
            for row, at in rows:
                error = "paced: the chat had enough messages queued"
                await self._step(outbox.postpone, message_id=row.id, at=at, error=error)
        finally:
            self._held -= len(rows)
        return 0

    # -- one chat --------------------------------------------------------------------------

    async def _send_chat(
        self, lane: Lane, rows: list[outbox.Due], readers: Readers | Exception
    ) -> int:
        """Send one chat's rows in order; after a 429 or a 403 the rest are settled unsent."""
        sent = done = 0
        try:
            async with lane.lock:
                for row in rows:
                    outcome = self._flood_wait(lane) or await self._send_row(lane, row, readers)
                    if isinstance(outcome, Halt):
                        await self._settle(outcome, rows[done:])
                        break
                    sent += outcome
                    done += 1
                    self._release(lane, 1)
        finally:
            self._release(lane, len(rows) - done)
        return sent

    def _release(self, lane: Lane, count: int) -> None:
        lane.held -= count
        self._held -= count

    def _flood_wait(self, lane: Lane) -> Halt | None:
        """A halt while an earlier 429 for this chat lasts."""
        if lane.flood_until is not None and lane.flood_until > self.clock():
            return Halt("flood control: waiting for the chat's retry_after", lane.flood_until)
        return None

    async def _send_row(
        self, lane: Lane, row: outbox.Due, readers: Readers | Exception
    ) -> int | Halt:
        """Render, pace and send one row, then record Telegram's answer; 1 if it was sent."""
        try:
            if isinstance(readers, Exception):  # they could not be read: as if this row failed
                await self._failed(row, readers)
                return 0
            rendered = self.render(row, readers)
            if rendered is None:
                await self._step(outbox.give_up, message_id=row.id, error="nothing to send")
                return 0
            telegram_id = await self._send(lane, row.chat_id, rendered)
        except TelegramRetryAfter as error:
            lane.flood_until = self.clock() + timedelta(seconds=error.retry_after)
            return Halt(self._describe(error), lane.flood_until)
        except TelegramForbiddenError as error:
            return Halt(self._describe(error))
        except Exception as error:  # settled on this row alone; the chat goes on
            await self._failed(row, error)
            return 0
        await self._record(outbox.Sent(row.id, telegram_id, self.clock()))
        return 1

    async def _record(self, sent: outbox.Sent) -> None:
        """Mark a row sent; rows sent while an earlier mark is being written share one write.

        The first caller writes until nothing is left; the others return at once. Under load
        that turns a transaction per message into one per batch. While more rows are held
        (a backlog sent at Telegram's pace, one message every 33 ms), the first caller waits
        `MARK_LINGER_SECONDS` before it writes, so that the next messages share the write.
        """
        self._sent.append(sent)
        if self._recording:
            return
        self._recording = True
        try:
            while self._sent:
                if self._held > len(self._sent):
                    await asyncio.sleep(MARK_LINGER_SECONDS)
                await self._mark_sent()
        finally:
            self._recording = False

    async def _mark_sent(self) -> None:
        batch, self._sent = self._sent, []
        if not batch:
            return
        try:
            await self._step(outbox.mark_sent, sent=batch)
        except Exception:  # those rows go out again when their lease ends
            log.exception("%d sent outbox rows could not be marked sent", len(batch))

    async def _readers(self, rows: list[outbox.Due]) -> Readers | Exception:
        """Who reads the rows about to be sent, in one read; the error if it failed."""
        try:
            async with self.reads() as session:
                return await self.render.readers(session, rows)
        except Exception as error:  # each row is settled as failed when its turn comes
            return error

    async def _send(self, lane: Lane, chat_id: int, rendered: Rendered) -> int:
        """Wait for the chat's turn, then for the bot's, then send (or edit); the message's id."""
        await lane.limiter.acquire()
        await self._global.acquire()
        if rendered.edits is not None:
            await self.bot.edit_message_text(
                rendered.text,
                chat_id=chat_id,
                message_id=rendered.edits,
                reply_markup=rendered.reply_markup,
                parse_mode="HTML",
            )
            return rendered.edits
        sent = await self.bot.send_message(
            chat_id, rendered.text, reply_markup=rendered.reply_markup, parse_mode="HTML"
        )
        return sent.message_id

    async def _failed(self, row: outbox.Due, error: Exception) -> None:
        """Give up after a 4xx; retry anything else with backoff (network, 5xx, a bug)."""
        text = self._describe(error)
        if is_permanent(error):
            await self._step(outbox.give_up, message_id=row.id, error=text)
            return
        if not isinstance(error, TRANSIENT):
            log.error("outbox row %s could not be sent", row.id, exc_info=error)
        at = self.clock() + backoff(row.attempts)
        await self._step(outbox.retry_later, message_id=row.id, at=at, error=text)

    async def _settle(self, halt: Halt, rows: list[outbox.Due]) -> None:
        """Postpone (429) or give up as unreachable (403) the chat's rows that were not sent."""
        for row in rows:
            if halt.until is not None:
                await self._step(
                    outbox.postpone, message_id=row.id, at=halt.until, error=halt.error
                )
            else:
                await self._step(outbox.give_up_unreachable, message_id=row.id, error=halt.error)

    async def _step(self, step: Callable[..., Awaitable[None]], **values: Any) -> None:
        """Run one core outbox function in a short session of its own."""
        async with self.sessions() as session:
            await step(session, **values)

    def _describe(self, error: Exception) -> str:
        # Request URLs carry the bot token, and some client errors quote them.
        return (str(error) or type(error).__name__).replace(self.bot.token, "<token>")
