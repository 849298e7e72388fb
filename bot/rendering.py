"""What a push looks like once rendered for its reader."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from core.models import Team, User

#: Who reads each push, by outbox row id: its recipient and their team (a team's group: the
#: team alone; neither when they are gone).
Readers = dict[int, tuple[User | None, Team | None]]

#: Characters a listing may fill of Telegram's 4096, leaving room for its last line.
TEXT_BUDGET = 3900


@dataclass(frozen=True)
class Rendered:
    """A message ready for Telegram: HTML text and optional inline buttons."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    #: The id of a message sent earlier that this one replaces (an edit), else None (a new one).
    edits: int | None = None


def markup(keyboard: InlineKeyboardBuilder) -> InlineKeyboardMarkup | None:
    """The builder's buttons, or none at all rather than an empty keyboard."""
    return keyboard.as_markup() if any(True for _ in keyboard.buttons) else None


def append_fitting(lines: list[str], items: list[str], *, budget: int = TEXT_BUDGET) -> int:
    """Append as many of `items` as keep the message within `budget`, then "…and N more."

    Returns how many were appended, so that buttons can follow the lines shown.
    """
    used = sum(len(line) + 1 for line in lines)
    for shown, item in enumerate(items):
        if used + len(item) + 1 > budget:
            lines.append(_("…and {n} more.").format(n=len(items) - shown))
            return shown
        lines.append(item)
        used += len(item) + 1
    return len(items)


@dataclass(frozen=True)
class Reader:
    """Whom a push is rendered for: their language, time zone and team currency."""

    locale: str
    timezone: ZoneInfo
    currency: str
