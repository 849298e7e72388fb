"""`leadloop demo`: LeadLoop on a fresh SQLite file, its bot talking to the Bot API stand-in.

Nothing leaves this machine: the bot's Telegram is the in-process stand-in.
"""

import asyncio
import contextlib
import logging

import uvicorn
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from core import migrate, teams, users
from core.db import create_engine, session_factory
from core.settings import Settings
from leadloop.server import build_app
from leadloop.standin import BotApiStandin

DEMO_TOKEN = "100000001:DEMO-token-of-the-local-stand-in"
#: Telegram ids of the demo people: (id, role, name).
PEOPLE = (
    (1001, "rep", "Anna Petrova"),
    (1002, "rep", "Li Wei"),
    (1003, "rep", "Tom Baker"),
    (1010, "manager", "Maria Ivanova"),
    (1020, "finance", "Oleg Sidorov"),
)
TEAM = "Demo Renovation"


async def seed(session: AsyncSession, default_locale: str) -> None:
    """A demo team with three reps, a manager and finance."""
    await teams.add_team(
        session,
        name=TEAM,
        values={"preset": "home-renovation", "currency": "USD"},
        default_locale=default_locale,
    )
    for telegram_id, role, name in PEOPLE:
        await users.add_user(session, telegram_id=telegram_id, role=role, team_name=TEAM, name=name)


def run_demo(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    database = settings.data_dir / "demo.sqlite3"
    for stale in (
        database,
        database.with_suffix(".sqlite3-wal"),
        database.with_suffix(".sqlite3-shm"),
    ):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    migrate.upgrade(url)
    asyncio.run(_serve(settings.model_copy(update={"database_url": url})))


async def _serve(settings: Settings) -> None:
    engine = create_engine(settings.effective_database_url)
    async with session_factory(engine)() as session:
        await seed(session, settings.default_locale)
    await engine.dispose()
    async with BotApiStandin(token=DEMO_TOKEN, username="leadloop_demo_bot") as standin:
        demo = settings.model_copy(
            update={
                "telegram_bot_token": SecretStr(DEMO_TOKEN),
                "telegram_api_base": standin.base_url,
                "public_url": None,
            }
        )
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(demo), host=demo.http_host, port=demo.http_port, log_config=None
            )
        )
        print(
            f"LeadLoop demo: http://{demo.http_host}:{demo.http_port}/healthz\n"
            f"Bot API stand-in: {standin.base_url}\n"
            f"Database: {settings.effective_database_url}\nPress Ctrl+C to stop.",
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve()
