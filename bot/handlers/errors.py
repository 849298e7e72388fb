"""Refusals from core, said in the reader's language: one place for every handler."""

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.errors import explain
from core.errors import DomainError


def router() -> Router:
    errors_router = Router(name="errors")
    errors_router.errors.register(refuse, ExceptionTypeFilter(DomainError))
    return errors_router


async def refuse(event: ErrorEvent) -> None:
    """A message gets a reply, a button press an alert; nothing was changed."""
    assert isinstance(event.exception, DomainError)
    text = explain(event.exception)
    update = event.update
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif update.message is not None:
        await update.message.answer(text)
