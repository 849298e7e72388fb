"""`leadloop serve`: the bot, the HTTP server, the scheduler and the outbox sender, one process."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import formatting
from bot.app import create_bot, create_dispatcher
from bot.commands import register_all_commands
from bot.i18n import create_i18n
from bot.lazy_types import warm_up
from bot.outbox_sender import OutboxSender
from bot.pushes import PushRenderer
from core import migrate
from core.db import (
    autovacuum_off,
    create_engine,
    is_postgres,
    read_session_factory,
    session_factory,
)
from core.rehearsal import rehearse
from core.scheduler import build_scheduler
from core.settings import Settings, SettingsError
from leadloop.runtime import configure_logging, fail
from webhooks.app import create_app
from webhooks.graph import GraphClient
from webhooks.leads import leads_router
from webhooks.metrics import Metrics, metrics_router
from webhooks.telegram import PATH as TELEGRAM_PATH
from webhooks.telegram import telegram_router

if TYPE_CHECKING:  # imported through `bot` first, so that aiogram's types build lazily
    from aiogram import Bot, Dispatcher

log = logging.getLogger("leadloop")
AUTOVACUUM_OFF = (
    "PostgreSQL's autovacuum is off: nothing keeps the planner's statistics current, and "
    "reads slow down as tables grow. Turn it on, or run ANALYZE regularly (from cron, say)."
)


async def _rehearse(engine: AsyncEngine) -> None:
    """Take a made-up lead through intake and back (`core.rehearsal`); a failure only costs
    the first real lead its speed.

    On PostgreSQL only: there the first lead paid ~120 ms (statements prepared per connection),
    on SQLite ~50. And in benchmark runs of 2026-12-03 with the sender unpaced, SQLite's
    100 leads/s went slower with it (p50 665 and 1,974 ms against 203 and 793 without, in
    turns), which is not understood yet; on a faster machine, where that step was far from its
    limit, it went no slower (benchmarks/README.md, fifteenth round).
    """
    if not is_postgres(engine):
        return
    try:
        await rehearse(engine)
    except Exception:
        log.warning("could not rehearse a lead's intake at start-up", exc_info=True)


def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; a configuration problem stops start-up with one line."""
    configure_logging()
    try:
        _check(settings)
    except SettingsError as error:
        fail(str(error))
    url = settings.effective_database_url
    if asyncio.run(migrate.current(url)) != migrate.HEAD:
        fail("the database schema is not up to date: run `leadloop db upgrade`")
    config = uvicorn.Config(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        # One log line per request costs more than the request: /metrics counts them instead.
        access_log=False,
    )
    uvicorn.Server(config).run()


def _check(settings: Settings) -> None:
    if settings.telegram_bot_token is None:
        raise SettingsError("setting TELEGRAM_BOT_TOKEN: required to serve")
    if settings.public_url and settings.webhook_secret is None:
        raise SettingsError(
            "setting LEADLOOP_WEBHOOK_SECRET: required when LEADLOOP_PUBLIC_URL is set"
        )


def build_app(settings: Settings) -> FastAPI:
    """The FastAPI app whose lifespan starts and stops everything else."""
    assert settings.telegram_bot_token is not None
    engine = create_engine(settings.effective_database_url)
    sessions = session_factory(engine)
    i18n = create_i18n(settings.default_locale)
    bot = create_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
    dispatcher = create_dispatcher(sessions, i18n)
    sender = OutboxSender(
        bot=bot,
        sessions=sessions,
        render=PushRenderer(i18n, settings.default_timezone),
        reads=read_session_factory(engine),
        global_rate=settings.send_rate,
    )
    scheduler = build_scheduler(sessions)
    updates = _Updates(bot, dispatcher)
    metrics = Metrics()
    routers: list[APIRouter] = [
        leads_router(
            sessions=sessions,
            max_bytes=settings.webhook_max_bytes,
            metrics=metrics,
            graph=GraphClient(settings.meta_graph_url),
        ),
        metrics_router(metrics),
    ]
    if settings.public_url and settings.webhook_secret:
        routers.append(
            telegram_router(
                secret=settings.webhook_secret.get_secret_value(),
                max_bytes=settings.webhook_max_bytes,
                sink=updates.feed,
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sender_task = asyncio.create_task(sender.run(), name="outbox-sender")
        # One setMyCommands per person who needs a list of their own: not worth holding start-up.
        commands_task = asyncio.create_task(
            register_all_commands(bot, i18n, sessions), name="command-lists"
        )
        scheduler.start()
        warm_up()
        await _rehearse(engine)
        formatting.load(settings.default_locale, ZoneInfo(settings.default_timezone))
        await updates.start(settings)
        if await autovacuum_off(engine):
            log.warning(AUTOVACUUM_OFF)
        # What start-up built (aiogram's models, catalogs, routers) lives as long as the
        # process: kept out of the garbage collector's scans, which then stay short.
        gc.freeze()
        try:
            yield
        finally:
            await updates.stop()
            scheduler.shutdown(wait=False)
            for task in (commands_task, sender_task):
                task.cancel()
            ended = await asyncio.gather(commands_task, sender_task, return_exceptions=True)
            for error in (result for result in ended if isinstance(result, Exception)):
                log.error("a background task failed", exc_info=error)
            await bot.session.close()
            await engine.dispose()

    return create_app(routers=routers, lifespan=lifespan)


class _Updates:
    """Where updates come from: long polling, or Telegram's webhook when a public URL is set."""

    def __init__(self, bot: "Bot", dispatcher: "Dispatcher") -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.polling: asyncio.Task[None] | None = None
        self.handling: set[asyncio.Task[Any]] = set()

    async def start(self, settings: Settings) -> None:
        if settings.public_url and settings.webhook_secret:
            await self.bot.set_webhook(
                url=settings.public_url + TELEGRAM_PATH,
                secret_token=settings.webhook_secret.get_secret_value(),
            )
            log.info("receiving updates by webhook at %s", settings.public_url + TELEGRAM_PATH)
            return
        await self.bot.delete_webhook()
        self.polling = asyncio.create_task(
            self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False),
            name="telegram-polling",
        )
        log.info("receiving updates by long polling")

    async def feed(self, update: dict[str, Any]) -> None:
        """Handle a webhook update in the background: Telegram gets its 200 at once."""
        task = asyncio.create_task(self.dispatcher.feed_raw_update(self.bot, update))
        self.handling.add(task)
        task.add_done_callback(self.handling.discard)

    async def stop(self) -> None:
        if self.polling is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            await asyncio.gather(self.polling, return_exceptions=True)
        if self.handling:
            await asyncio.gather(*self.handling, return_exceptions=True)
