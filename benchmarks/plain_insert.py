"""The baseline: the same lead rows inserted plainly, one transaction each, same driver."""

import asyncio
import time

import sqlalchemy as sa

from core.db import create_engine


async def plain_insert_rate(url: str, total: int, workers: int) -> float:
    """Rows a second when 16 workers insert `total` rows into a bare table, one commit each."""
    engine = create_engine(url)
    table = sa.table("bench_plain", sa.column("name"), sa.column("phone"))
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE IF EXISTS bench_plain")
        key = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
        await connection.exec_driver_sql(
            f"CREATE TABLE bench_plain (id {key}, name VARCHAR(200), phone VARCHAR(20))"
        )
    rows = iter(range(total))

    async def worker() -> None:
        for n in rows:
            async with engine.begin() as connection:
                await connection.execute(table.insert().values(name=f"P{n}", phone=f"+1{n:010d}"))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    rate = total / (time.perf_counter() - start)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE bench_plain")
    await engine.dispose()
    return rate
