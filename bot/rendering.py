"""What a push looks like once rendered for its reader."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup


@dataclass(frozen=True)
class Rendered:
    """A message ready for sendMessage: HTML text and optional inline buttons."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True)
class Reader:
    """Whom a push is rendered for: their language, time zone and team currency."""

    locale: str
    timezone: ZoneInfo
    currency: str
