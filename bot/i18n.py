"""Translations: aiogram's gettext I18n over our Babel catalogs.

The `.po` files are the source; they are compiled to `.mo` at start into a private folder, so
neither a wheel nor a fresh clone needs a separate build step, and no stale `.mo` can linger.
"""

import tempfile
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.languages import resolve_locale
from core.settings import LOCALES
from locales import DOMAIN, LOCALES_DIR


def compile_catalogs(target: Path, source: Path = LOCALES_DIR) -> Path:
    """Compile every `<locale>/LC_MESSAGES/messages.po` under `source` into `target`."""
    for locale in LOCALES:
        po_path = source / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        mo_path = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
    return target


def create_i18n(default_locale: str) -> I18n:
    target = Path(tempfile.mkdtemp(prefix="leadloop-locales-"))
    return I18n(path=compile_catalogs(target), default_locale=default_locale, domain=DOMAIN)


class LocaleMiddleware(I18nMiddleware):
    """Chooses each update's language: /lang choice, Telegram's language, the team's."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        chosen, team_locale = data.get("locale_hints", (None, None))
        sender: User | None = data.get("event_from_user")
        return resolve_locale(
            chosen=chosen,
            telegram_code=sender.language_code if sender else None,
            team_locale=team_locale,
            default=self.i18n.default_locale,
        )
