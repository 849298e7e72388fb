"""The whole bot on one screen: the Bot client, the dispatcher, its middlewares and routers."""

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.handlers import (
    access,
    card,
    errors,
    fallback,
    find,
    help,
    history,
    language,
    leads,
    new_lead,
    offers,
    settings,
    start,
    steps,
    team,
    today,
)
from bot.i18n import LocaleMiddleware
from bot.middlewares import SessionMiddleware
from bot.storage import DatabaseStorage


def create_bot(token: str, api_base: str | None) -> Bot:
    """A Bot client; `api_base` points it at a self-hosted Bot API server or a stand-in."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base)) if api_base else None
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_dispatcher(sessions: async_sessionmaker[AsyncSession], i18n: I18n) -> Dispatcher:
    dispatcher = Dispatcher(storage=DatabaseStorage(sessions))
    dispatcher.update.outer_middleware(SessionMiddleware(sessions))
    LocaleMiddleware(i18n).setup(dispatcher)
    dispatcher.include_routers(
        errors.router(),
        start.router(),
        offers.router(),
        team.router(),
        history.router(),
        settings.router(),
        language.router(),
        help.router(),
        new_lead.router(),
        steps.router(),
        find.router(),
        today.router(),
        card.router(),
        leads.router(),
        access.router(),
        fallback.router(),
    )
    return dispatcher
