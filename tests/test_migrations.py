"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from core import migrate


def _differences(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        assert await connection.run_sync(_tables) == set(SQLModel.metadata.tables)


async def test_downgrade_to_base_and_back(database_url: str, engine: AsyncEngine) -> None:
    await _in_thread(migrate.downgrade, database_url, "base")
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) == set()
    assert await migrate.current(database_url) is None
    await _in_thread(migrate.upgrade, database_url, "head")
    assert await migrate.current(database_url) == migrate.HEAD


def test_head_is_the_newest_script() -> None:
    assert ScriptDirectory.from_config(migrate.alembic_config("")).get_current_head() == (
        migrate.HEAD
    )


async def _in_thread(step: migrate.Step, url: str, revision: str) -> None:
    # Alembic's env.py runs its own event loop, so it must not run inside the test's loop.
    import asyncio

    await asyncio.to_thread(step, url, revision)
