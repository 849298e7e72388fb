"""The `leadloop` command: serve, migrate, manage teams and users, export."""

import asyncio
from typing import Annotated

import typer

from core import migrate
from leadloop.commands import deliveries, export, sources, teams, users
from leadloop.runtime import fail, settings_or_exit

app = typer.Typer(help="LeadLoop: a chat-first CRM for field sales teams.", no_args_is_help=True)
db = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(teams.app, name="team")
app.add_typer(users.app, name="user")
app.add_typer(export.app, name="export")
app.add_typer(sources.app, name="source")
app.add_typer(sources.routes, name="route")
app.add_typer(deliveries.app, name="deliveries")


@app.command()
def serve() -> None:
    """Run the bot, the HTTP server, the scheduler and the outbox sender in one process."""
    from leadloop.server import serve as run_server

    run_server(settings_or_exit())


@app.command()
def demo() -> None:
    """Start LeadLoop on a fresh demo database, its bot on a local Bot API stand-in."""
    from leadloop.demo import run_demo

    run_demo(settings_or_exit())


@db.command()
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Bring the database schema up to date (creates the SQLite file if needed)."""
    _migrate(migrate.upgrade, revision)


@db.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")] = "-1",
) -> None:
    """Step the database schema back (`base` removes every table)."""
    _migrate(migrate.downgrade, revision)


def _migrate(step: "migrate.Step", revision: str) -> None:
    url = settings_or_exit().effective_database_url
    try:
        step(url, revision)
    except Exception as error:  # Alembic raises many kinds; the user needs one line.
        fail(f"migration failed: {error}")
    typer.echo(f"database at {asyncio.run(migrate.current(url)) or 'base'}", err=True)


def main() -> None:
    app()
