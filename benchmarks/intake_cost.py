"""What one intake request costs in process: CPU, SQL statements and transactions.

The lead webhook runs in this process (FastAPI through httpx's ASGI transport, no server),
on the same team as `benchmarks.intake` (200 reps, round robin), one request at a time (or
`--senders N` at once), so the figures are the request's own. `--statements` lists each
statement's count and time. `--with-sender` also runs the outbox sender with the real push
renderer, sending the offers to the Bot API stand-in in this process: the figures are then
per lead, offer sent (the stand-in's own share included).

    python -m benchmarks.intake_cost [--requests 200] [--database URL] [--statements]
        [--with-sender] [--senders 1]
"""

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.common import fresh_database, run
from benchmarks.intake import SECRET, TOKEN, seed
from bot.app import create_bot
from bot.i18n import create_i18n
from bot.outbox_sender import OutboxSender
from bot.pushes import PushRenderer
from core.db import create_engine, session_factory
from leadloop.standin import BotApiStandin
from webhooks.app import create_app
from webhooks.graph import GraphClient
from webhooks.leads import leads_router
from webhooks.metrics import Metrics

WARM_UP = 5


def _count_statements(engine: sa.Engine, counts: Counter[str], seconds: Counter[str]) -> None:
    started: list[float] = []

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        counts[" ".join(text.split())[:100]] += 1
        started.append(time.perf_counter())

    def executed(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        seconds[" ".join(text.split())[:100]] += time.perf_counter() - started.pop()

    def commit(_conn: Any) -> None:
        counts["(commits)"] += 1

    def begin(_conn: Any) -> None:
        counts["(transactions begun)"] += 1

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "after_cursor_execute", executed)
    sa.event.listen(engine, "commit", commit)
    sa.event.listen(engine, "begin", begin)


@contextlib.asynccontextmanager
async def _sending(sessions: Any, enabled: bool) -> AsyncIterator[BotApiStandin | None]:
    """The outbox sender at work on the stand-in, Telegram's limits lifted (or nothing)."""
    if not enabled:
        yield None
        return
    async with BotApiStandin(token=TOKEN) as standin:
        bot = create_bot(TOKEN, standin.base_url)
        renderer = PushRenderer(create_i18n("en"), "UTC")
        sender = OutboxSender(
            bot=bot, sessions=sessions, render=renderer, global_rate=10_000, private_per_second=100
        )
        async with sender:
            yield standin
        await bot.session.close()


async def _all_sent(standin: BotApiStandin | None, count: int) -> None:
    # The stand-in records calls; it has no event to wait on for a count of them.
    while standin is not None and len(standin.calls_of("sendMessage")) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.001)


async def main(
    url: str, requests: int, list_statements: bool, with_sender: bool, senders: int
) -> None:
    await seed(url, 200)
    engine = create_engine(url)
    counts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    _count_statements(engine.sync_engine, counts, seconds)
    sessions = session_factory(engine)
    router = leads_router(
        sessions=sessions,
        max_bytes=1 << 20,
        metrics=Metrics(),
        graph=GraphClient("http://127.0.0.1:9"),  # never called: the source is generic
    )
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
        _sending(sessions, with_sender) as standin,
    ):

        async def post(n: int) -> None:
            response = await http.post(
                "/webhooks/leads/bench",
                json={"name": f"Cost {n}", "phone": f"+1415555{n:04d}"},
                headers={"authorization": f"Bearer {SECRET}"},
            )
            response.raise_for_status()

        for n in range(WARM_UP):
            await post(n)
        await _all_sent(standin, WARM_UP)
        counts.clear()
        seconds.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        numbers = iter(range(WARM_UP, WARM_UP + requests))

        async def sender() -> None:
            for n in numbers:
                await post(n)

        await asyncio.gather(*(sender() for _ in range(senders)))
        await _all_sent(standin, WARM_UP + requests)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.dispose()
    per = {key: count / requests for key, count in counts.items()}
    statements = sum(count for key, count in per.items() if not key.startswith("("))
    sending = ", offers sent" if with_sender else ""
    at_once = "one at a time" if senders == 1 else f"{senders} at a time"
    print(f"database: {engine.dialect.name}; {requests} requests {at_once}{sending}")
    print(
        f"per request: CPU {cpu / requests * 1000:.2f} ms, wall {wall / requests * 1000:.2f} ms, "
        f"{statements:.1f} statements, {per.get('(transactions begun)', 0):.1f} transactions, "
        f"{per.get('(commits)', 0):.1f} commits"
    )
    if list_statements:
        print(" count  µs each  statement (time in the driver and the database)")
        for key, count in sorted(per.items(), key=lambda item: -item[1]):
            each = seconds[key] / counts[key] * 1e6 if key in seconds else 0
            print(f"{count:6.2f}  {each:7.0f}  {key}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default=None)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--with-sender", action="store_true")
    parser.add_argument("--senders", type=int, default=1, help="requests in flight at once")
    args = parser.parse_args()
    url = fresh_database(args.database)
    run(main(url, args.requests, args.statements, args.with_sender, args.senders))
