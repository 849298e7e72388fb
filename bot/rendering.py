"""What a push looks like once rendered for its reader."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder


@dataclass(frozen=True)
class Rendered:
    """A message ready for sendMessage: HTML text and optional inline buttons."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None


def markup(keyboard: InlineKeyboardBuilder) -> InlineKeyboardMarkup | None:
    """The builder's buttons, or none at all rather than an empty keyboard."""
    return keyboard.as_markup() if any(True for _ in keyboard.buttons) else None


@dataclass(frozen=True)
class Reader:
    """Whom a push is rendered for: their language, time zone and team currency."""

    locale: str
    timezone: ZoneInfo
    currency: str
