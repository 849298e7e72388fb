"""`leadloop demo`: LeadLoop on a fresh SQLite file, its bot talking to the Bot API stand-in.

Nothing leaves this machine: the bot's Telegram is the in-process stand-in, and a web page at
/demo/ lets a person chat with the bot as any of the demo team.
"""

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn
from pydantic import SecretStr

from core import migrate
from core.db import create_engine, session_factory
from core.models import utcnow
from core.settings import Settings
from leadloop.demo_data import DemoPeople, seed_demo
from leadloop.demo_page import demo_router
from leadloop.runtime import configure_logging
from leadloop.server import build_app
from leadloop.standin import BotApiStandin

DEMO_TOKEN = "100000001:DEMO-token-of-the-local-stand-in"
log = logging.getLogger("leadloop.demo")


def run_demo(settings: Settings) -> None:
    """Create the demo database afresh and serve until Ctrl+C or SIGTERM."""
    configure_logging()
    database = settings.data_dir / "demo.sqlite3"
    for stale in (
        database,
        database.with_suffix(".sqlite3-wal"),
        database.with_suffix(".sqlite3-shm"),
    ):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    migrate.upgrade(url)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C before the server is up
        asyncio.run(_serve(settings.model_copy(update={"database_url": url})))


async def _seed(settings: Settings) -> DemoPeople:
    engine = create_engine(settings.effective_database_url)
    try:
        async with session_factory(engine)() as session:
            return await seed_demo(session, default_locale=settings.default_locale, now=utcnow())
    finally:
        await engine.dispose()


async def _serve(settings: Settings) -> None:
    people = await _seed(settings)
    log.info("demo database: %s, %d leads", settings.effective_database_url, people.lead_count)
    async with BotApiStandin(
        token=DEMO_TOKEN, bot_id=int(DEMO_TOKEN.split(":")[0]), username="leadloop_demo_bot"
    ) as standin:
        demo = settings.model_copy(
            update={
                "telegram_bot_token": SecretStr(DEMO_TOKEN),
                "telegram_api_base": standin.base_url,
                "public_url": None,
            }
        )
        app = build_app(demo)
        app.include_router(demo_router(standin, people))
        config = uvicorn.Config(app, host=demo.http_host, port=demo.http_port, log_config=None)
        server = _DemoServer(config)
        serving = asyncio.create_task(server.serve())
        up = asyncio.create_task(server.up.wait())
        await asyncio.wait((serving, up), return_when=asyncio.FIRST_COMPLETED)
        up.cancel()
        if server.started:
            print(
                f"Open {_page_url(server)} to chat with the bot as any demo user\n"
                f"Bot API stand-in: {standin.base_url}\nPress Ctrl+C to stop.",
                flush=True,
            )
        await serving
    print("LeadLoop demo stopped.", flush=True)


def _page_url(server: uvicorn.Server) -> str:
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # listening everywhere: this machine is one of them
        host = "127.0.0.1"
    return f"http://{host}:{port}/demo/"


class _DemoServer(uvicorn.Server):
    """uvicorn that stops on SIGINT or SIGTERM without re-raising the signal afterwards.

    uvicorn re-raises a caught signal once it has shut down, which would kill the process
    before the stand-in is stopped; the demo tidies up and exits 0 instead.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.up.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for caught in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(caught, self.handle_exit, caught, None)
        try:
            yield
        finally:
            for caught in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(caught)
