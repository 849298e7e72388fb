"""Test database: every test gets a freshly migrated, empty database.

The suite runs once per backend, chosen by LEADLOOP_TEST_DATABASE (`sqlite`, the default, or
`postgresql`). SQLite copies a migrated template file per test; PostgreSQL migrates a database
the run creates and drops itself, and empties its tables after each test. In the PostgreSQL
pass only the tests that touch a database run: the rest ran in the SQLite pass.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# Before tests.botkit imports aiogram: its types build lazily here too, as in production.
import bot  # noqa: F401
from core.db import create_engine, session_factory
from core.migrate import upgrade

pytest_plugins = ["tests.botkit", "tests.intakekit"]

BACKEND = os.environ.get("LEADLOOP_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "LEADLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
_PG_DATABASE = f"leadloop_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def pytest_report_header() -> str:
    if BACKEND == "postgresql":
        server = make_url(POSTGRES_URL)
        return f"database: postgresql ({_PG_DATABASE} on {server.host}:{server.port})"
    return "database: sqlite (a migrated file per test)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND != "postgresql":
        return
    keep = [item for item in items if "database_url" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a database at the newest schema: a template file, or the run's PG database."""
    if BACKEND == "sqlite":
        template = tmp_path_factory.mktemp("template") / "template.sqlite3"
        upgrade(f"sqlite:///{template}")
        yield f"sqlite:///{template}"
        return
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{_PG_DATABASE}"'))
    except (OSError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    url = make_url(POSTGRES_URL).set(database=_PG_DATABASE).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{_PG_DATABASE}" WITH (FORCE)'))


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> Iterator[str]:
    """An empty database at the newest schema, for this test alone."""
    if BACKEND == "sqlite":
        copy = tmp_path / "leadloop.sqlite3"
        shutil.copyfile(make_url(migrated_database).database or "", copy)
        yield f"sqlite:///{copy}"
        return
    yield migrated_database
    tables = ", ".join(f'"{name}"' for name in SQLModel.metadata.tables)
    asyncio.run(_truncate(migrated_database, tables))


async def _truncate(url: str, tables: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        # A test that failed mid-request may leave a connection in a transaction: end it.
        await connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session
