"""What one intake request costs in process: CPU, SQL statements and transactions.

The lead webhook runs in this process (FastAPI through httpx's ASGI transport, no bot, no
server), on the same team as `benchmarks.intake` (200 reps, round robin), one request at a
time, so the figures are the request's own. `--statements` lists each statement's count.

    python -m benchmarks.intake_cost [--requests 200] [--database URL] [--statements]
"""

import argparse
import time
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.common import fresh_database, run
from benchmarks.intake import SECRET, seed
from core.db import create_engine, session_factory
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


async def main(url: str, requests: int, list_statements: bool) -> None:
    await seed(url, 200)
    engine = create_engine(url)
    counts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    _count_statements(engine.sync_engine, counts, seconds)
    router = leads_router(
        sessions=session_factory(engine),
        max_bytes=1 << 20,
        metrics=Metrics(),
        graph=GraphClient("http://127.0.0.1:9"),  # never called: the source is generic
    )
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def post(n: int) -> None:
            response = await http.post(
                "/webhooks/leads/bench",
                json={"name": f"Cost {n}", "phone": f"+1415555{n:04d}"},
                headers={"authorization": f"Bearer {SECRET}"},
            )
            response.raise_for_status()

        for n in range(WARM_UP):
            await post(n)
        counts.clear()
        seconds.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(WARM_UP, WARM_UP + requests):
            await post(n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.dispose()
    per = {key: count / requests for key, count in counts.items()}
    statements = sum(count for key, count in per.items() if not key.startswith("("))
    print(f"database: {engine.dialect.name}; {requests} requests one at a time")
    print(
        f"per request: CPU {cpu / requests * 1000:.1f} ms, wall {wall / requests * 1000:.1f} ms, "
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
    args = parser.parse_args()
    url = fresh_database(args.database)
    run(main(url, args.requests, args.statements))
