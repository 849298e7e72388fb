"""Running the `leadloop` command in-process, as a person would type it."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import Result
from sqlmodel.ext.asyncio.session import AsyncSession
from typer.testing import CliRunner

from core.db import create_engine, session_factory
from leadloop.cli import app

T = TypeVar("T")


def leadloop(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(app, list(args))


def use_database(url: str, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    """Point commands at the test's database, with no bot token (nothing reaches Telegram)."""
    monkeypatch.setenv("LEADLOOP_DATABASE_URL", url)
    monkeypatch.setenv("LEADLOOP_DATA_DIR", str(data_dir))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_BASE", raising=False)
    return url


def seed(url: str, build: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `build` in a session of its own, outside the command under test."""

    async def run() -> T:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            result = await build(session)
        await engine.dispose()
        return result

    return asyncio.run(run())


def query(url: str, statement: Any) -> list[Any]:
    async def rows(session: AsyncSession) -> list[Any]:
        return list((await session.exec(statement)).all())

    return seed(url, rows)
