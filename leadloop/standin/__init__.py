"""A faithful in-process stand-in for the Telegram Bot API server, for tests and demos."""

from .images import tiny_png
from .standin import BotApiStandin
from .state import ApiCall
from .updates import (
    callback_query,
    command_message,
    contact_message,
    document_message,
    group_chat,
    make_user,
    photo_message,
    private_chat,
    text_message,
)

__all__ = [
    "ApiCall",
    "BotApiStandin",
    "callback_query",
    "command_message",
    "contact_message",
    "document_message",
    "group_chat",
    "make_user",
    "photo_message",
    "private_chat",
    "text_message",
    "tiny_png",
]
