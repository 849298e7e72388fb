"""Speed to lead: from a web form's POST to the rep's offer leaving for the Bot API.

Runs one real `leadloop serve` process (SQLite file or PostgreSQL) whose bot talks to the Bot
API stand-in in this process, then measures:
1. latency at a steady 20 and 100 leads/s: POST sent -> offer received by the stand-in;
2. throughput with 16 concurrent senders, and its ratio to plain inserts of the same rows
   through the same driver in the same run (three floods, each followed by the inserts);
3. the server's resident memory after the run.

    python -m benchmarks.intake [--database URL] [--send-rate 30] [--reps 200] [--flood-only]

`--flood-only --send-rate 0.5` holds the sender back: intake's own ceiling.
"""

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from benchmarks.common import fresh_database
from benchmarks.plain_insert import plain_insert_rate
from core import sources, teams, users
from core.db import autovacuum_off, create_engine, session_factory
from leadloop.standin import BotApiStandin

TOKEN = "42:benchmark-token"
SECRET = "whsec_" + "YmVuY2htYXJrLWtleS0xMjM0NTY3OA=="
#: Leads per flood, and floods, each followed by the plain inserts: in turns, so that a slow
#: minute of a shared machine falls on both sides of a ratio, and the median is reported.
FLOOD = 2000
FLOODS = 3
#: autovacuum's default naptime: how often it looks for tables to analyse.
ANALYZE_SECONDS = 60.0


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def seed(url: str, reps: int) -> None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await teams.add_team(
            session, name="Bench", values={"claim_window": "1h"}, default_locale="en"
        )
        for n in range(reps):
            await users.add_user(
                session, telegram_id=500_000 + n, role="rep", team_name="Bench", name=f"Rep {n}"
            )
        await sources.add_source(
            session,
            name="bench",
            kind="generic",
            values={"team": "Bench", "secret": SECRET, "rate": 10_000, "burst": 100_000},
        )
    await engine.dispose()


class Run:
    def __init__(self, standin: BotApiStandin, base: str) -> None:
        self.standin, self.base = standin, base
        self.sent: dict[str, float] = {}
        # aiohttp's client, not httpx's: httpx takes ~1.4 ms of CPU a request here, which
        # capped the flood at ~700 requests/s before the server; aiohttp takes ~0.1 ms.
        # Idle connections are let go before the server drops them (at 5 s), never reused late.
        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=2)
        timeout = aiohttp.ClientTimeout(total=30)
        self.http = aiohttp.ClientSession(base, connector=connector, timeout=timeout)

    async def post(self, name: str, phone: str) -> int:
        self.sent[name] = time.time()
        async with self.http.post(
            "/webhooks/leads/bench",
            json={"name": name, "phone": phone},
            headers={"authorization": f"Bearer {SECRET}"},
        ) as response:
            await response.read()
            return response.status

    async def steady(self, label: str, rate: float, seconds: float) -> dict[str, float]:
        count = int(rate * seconds)
        names = [f"{label}-{n:05d}" for n in range(count)]
        start = time.perf_counter()
        tasks = []
        for n, name in enumerate(names):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(self.post(name, _phone(label, n))))
        await asyncio.gather(*tasks)
        return await self.latencies(names)

    async def latencies(self, names: list[str], within: float = 60) -> dict[str, float]:
        """Seconds from each lead's POST to its offer at the stand-in, by the lead's name."""
        wanted, found = set(names), {}
        deadline = time.time() + within
        while len(found) < len(wanted) and time.time() < deadline:
            for call in self.standin.calls_of("sendMessage"):
                text = call.params.get("text", "")
                name = text.split("<b>", 1)[-1].split("</b>", 1)[0]
                if name in wanted and name not in found:
                    found[name] = call.at.timestamp() - self.sent[name]
            await asyncio.sleep(0.2)
        return found

    async def flood(self, label: str, total: int, workers: int) -> float:
        queue = iter(range(total))

        async def worker() -> None:
            for n in queue:
                assert await self.post(f"{label}-{n:05d}", _phone(label, n)) == 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return total / (time.perf_counter() - start)


def _phone(label: str, n: int) -> str:
    block = {"s20": 1, "s100": 2}.get(label) or 3 + int(label.removeprefix("flood"))
    return f"+1415{block}{n:06d}"


def _slowest(by_name: dict[str, float], count: int = 5) -> str:
    """The slowest leads and where in the run they came (a start-up cost shows as #0, #1)."""
    slowest = sorted(by_name.items(), key=lambda item: item[1], reverse=True)[:count]
    return ", ".join(f"#{int(name.rsplit('-', 1)[1])}: {s * 1000:.0f}" for name, s in slowest)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(url: str, send_rate: float, reps: int, flood_only: bool) -> None:
    await seed(url, reps)
    async with BotApiStandin(token=TOKEN) as standin, _statistics_kept(url):
        port = _port()
        env = {
            **os.environ,
            "LEADLOOP_DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": standin.base_url,
            "LEADLOOP_HTTP_PORT": str(port),
            "LEADLOOP_SEND_RATE": str(send_rate),
        }
        log = Path(tempfile.mkdtemp(prefix="leadloop-bench-")) / "server.log"
        print(f"server log: {log}")
        with log.open("wb") as log_file:
            server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "leadloop", "serve", env=env, stdout=log_file, stderr=log_file
            )
        run = Run(standin, f"http://127.0.0.1:{port}")
        try:
            await _wait_up(run.http)
            await _report(run, url, server.pid, flood_only, send_rate)
        finally:
            await run.http.close()
            server.send_signal(signal.SIGTERM)
            await server.wait()


@contextlib.asynccontextmanager
async def _statistics_kept(url: str) -> AsyncIterator[None]:
    """Where PostgreSQL's autovacuum is off (as on our shared machines), ANALYZE every minute
    as autovacuum would (its default `autovacuum_naptime`): production runs with it on, and
    without statistics the planner reads growing tables whole (see `core.db.autovacuum_off`)."""
    engine = create_engine(url)
    try:
        if not await autovacuum_off(engine):
            yield
            return
        print(f"PostgreSQL's autovacuum is off: ANALYZE every {ANALYZE_SECONDS:.0f} s instead")

        async def analyze() -> None:
            while True:
                await asyncio.sleep(ANALYZE_SECONDS)
                async with engine.connect() as connection:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await connection.exec_driver_sql("ANALYZE")

        task = asyncio.create_task(analyze())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await engine.dispose()


async def _wait_up(http: aiohttp.ClientSession) -> None:
    for _ in range(300):
        try:
            async with http.get("/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("leadloop serve did not come up")


async def _report(run: Run, url: str, pid: int, flood_only: bool, send_rate: float) -> None:
    print(
        f"database: {url.split(':', 1)[0]}; cores: {os.cpu_count()}; "
        f"python {sys.version.split()[0]}"
    )
    steady = () if flood_only else (("s20", 20, 15), ("s100", 100, 10))
    for label, rate, seconds in steady:
        by_name = await run.steady(label, rate, seconds)
        latencies = sorted(by_name.values())
        print(
            f"steady {rate}/s: {len(latencies)} offers; p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )
        print(f"  slowest (lead number: ms): {_slowest(by_name)}")
    cpu_before, cpu_flooding, ratios = cpu_seconds(pid), 0.0, []
    for round_ in range(FLOODS):
        started = cpu_seconds(pid)
        intake = await run.flood(f"flood{round_}", FLOOD, 16)
        cpu_flooding += cpu_seconds(pid) - started
        plain = await plain_insert_rate(url, FLOOD, 16)
        ratios.append(intake / plain)
        print(
            f"throughput, 16 senders: {intake:.0f} leads/s; plain inserts {plain:.0f} rows/s; "
            f"ratio {intake / plain:.2f}"
        )
    print(f"ratio, the median of {FLOODS} rounds: {statistics.median(ratios):.2f}")
    leads = FLOOD * FLOODS
    print(f"server CPU per lead: {cpu_flooding / leads * 1000:.1f} ms during the floods")
    sending = leads / send_rate
    if sending < 600:  # else the sender is held back on purpose: not waited for
        names = [f"flood{round_}-{n:05d}" for round_ in range(FLOODS) for n in range(FLOOD)]
        await run.latencies(names, within=60 + sending)
        print(
            f"server CPU per lead until every offer was out: "
            f"{(cpu_seconds(pid) - cpu_before) / leads * 1000:.1f} ms"
        )
    print(f"server resident memory after the run: {rss_mib(pid):.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default=None)
    parser.add_argument("--send-rate", type=float, default=30.0)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--flood-only", action="store_true", help="skip the steady rates")
    args = parser.parse_args()
    url = fresh_database(args.database)
    asyncio.run(main(url, args.send_rate, args.reps, args.flood_only))
