"""The persistent menu under the input field: everyday actions without typing commands."""

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from core.models import Role, User

#: Menu buttons; handlers match them in every language with aiogram's lazy texts.
NEW_LEAD = __("➕ New lead")
MY_LEADS = __("📋 Leads")
TODAY = __("📅 Today")
FIND = __("🔎 Find")
TEAM = __("👥 Team")
HELP = __("❓ Help")


def moves_on(text: str | None) -> bool:
    """A command or a menu button: the person has moved on from the step they were at."""
    if text is None:
        return False
    buttons = (NEW_LEAD, MY_LEADS, TODAY, FIND, TEAM, HELP)
    return text.startswith("/") or text in {str(button) for button in buttons}


def main_menu(member: User) -> ReplyKeyboardMarkup:
    rows = [
        [KeyboardButton(text=str(NEW_LEAD)), KeyboardButton(text=str(MY_LEADS))],
        [KeyboardButton(text=str(TODAY)), KeyboardButton(text=str(FIND))],
    ]
    last = [KeyboardButton(text=str(HELP))]
    if member.role in (Role.MANAGER, Role.ADMIN):
        last.insert(0, KeyboardButton(text=str(TEAM)))
    rows.append(last)
    return ReplyKeyboardMarkup(
        keyboard=rows,
        resize_keyboard=True,
        is_persistent=True,
        input_field_placeholder=_("/new Anna +7 912 345 67 89"),
    )
