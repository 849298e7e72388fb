"""Schema migrations with Alembic; the scripts ship inside the package (core/migrations).

Alembic is imported only where a migration runs: `leadloop serve` checks the schema with
`HEAD` and one SELECT, since Alembic would otherwise stay in the server's memory (10 MiB of
its 150) for a check made once at start.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.db import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest revision in migrations/versions; a test checks it against Alembic's reading of
#: the scripts, so a new migration that forgets to move it fails the suite.
HEAD = "0006"
#: Where Alembic keeps the revision a database is at.
_VERSION_TABLE = "alembic_version"

Step = Callable[[str, str], None]


def alembic_config(database_url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision` (blocking: call it outside a running event loop)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


async def current(database_url: str) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            if not await connection.run_sync(
                lambda sync: sa.inspect(sync).has_table(_VERSION_TABLE)
            ):
                return None
            query = sa.text(f"SELECT version_num FROM {_VERSION_TABLE}")
            return (await connection.execute(query)).scalar_one_or_none()
    finally:
        await engine.dispose()
