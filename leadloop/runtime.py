"""Running one unit of work from the command line: settings, a session, one-line errors."""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import create_engine, session_factory
from core.errors import DomainError
from core.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def configure_logging() -> None:
    """Log lines with time and source; the scheduler's note on every tick is left out."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


def explain_database_error(error: DBAPIError) -> str:
    text = str(error.orig).lower()
    if "no such table" in text or ("does not exist" in text and "relation" in text):
        return "the database has no schema yet: run `leadloop db upgrade`"
    return f"database error: {str(error.orig).splitlines()[0]}"


def run_in_session(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run `work` in one database session; domain and database errors become one line."""
    settings = settings_or_exit()

    async def main() -> T:
        engine = create_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DomainError as error:
        fail(str(error))
    except (OperationalError, ProgrammingError) as error:
        fail(explain_database_error(error))
    except OSError as error:
        fail(f"cannot reach the database: {error}")


def say(message: str) -> None:
    """Progress and notes go to stderr, so that stdout carries only the command's output."""
    print(message, file=sys.stderr)
