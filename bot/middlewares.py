"""Per-update plumbing: one database session, and who is writing."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import users

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class SessionMiddleware(BaseMiddleware):
    """Opens the one session an update works in and loads the member and team behind it.

    Handlers get `session`, `member` (None for strangers) and `team`.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            sender: TelegramUser | None = data.get("event_from_user")
            member, team = (
                await users.identify(session, sender.id, sender.language_code)
                if sender
                else (None, None)
            )
            # Plain values for the language: an error handler may run after the session ended.
            locale_hints = (member.locale if member else None, team.locale if team else None)
            data.update(session=session, member=member, team=team, locale_hints=locale_hints)
            return await handler(event, data)
