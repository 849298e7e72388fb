"""Every message the code shows exists, fully translated, in all three catalogs."""

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from bot.i18n import compile_catalogs
from core.settings import LOCALES
from locales.update import SOURCE_LOCALE, catalog_path, extract

_PLACEHOLDER = re.compile(r"\{(\w*)\}")
#: Placeholders, HTML tags, commands and codes stay as they are in every language.
_UNTRANSLATABLE = re.compile(r"\{\w*\}|<[^>]*>|/\w+|\b[A-Z]{2,}\b")


def _forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _key(message: Message) -> str:
    return _forms(message.id)[0]


def _still_english(entry: Message) -> bool:
    """The English text kept as its own translation, though it has words to translate."""
    if _forms(entry.string) != _forms(entry.id):
        return False
    words = _UNTRANSLATABLE.sub(" ", _key(entry))
    return re.search(r"[A-Za-z]{3,}", words) is not None


@pytest.fixture(scope="module")
def used() -> list[Message]:
    return [message for message in extract() if message.id]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_used_message_is_translated(locale: str, used: list[Message]) -> None:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    problems = []
    for message in used:
        entry = catalog.get(message.id if isinstance(message.id, str) else message.id[0])
        if entry is None:
            problems.append(f"missing: {_key(message)!r}")
        elif entry.fuzzy or not all(_forms(entry.string)):
            problems.append(f"untranslated: {_key(message)!r}")
        elif locale != SOURCE_LOCALE and _still_english(entry):
            problems.append(f"still English: {_key(message)!r}")
        else:
            expected = set(_PLACEHOLDER.findall(_key(message)))
            for form in _forms(entry.string):
                if set(_PLACEHOLDER.findall(form)) != expected:
                    problems.append(f"placeholders differ: {form!r}")
    assert not problems, f"{locale} catalog:\n" + "\n".join(problems)


def test_catalogs_compile_and_translate(tmp_path: Path) -> None:
    from aiogram.utils.i18n import I18n

    i18n = I18n(path=compile_catalogs(tmp_path), default_locale="en", domain="messages")
    assert set(i18n.available_locales) == set(LOCALES)
    assert i18n.gettext("manager", locale="ru") == "руководитель"
    assert i18n.gettext("manager", locale="zh_Hans") == "经理"
    singular = "{leaver} has left the team: {count} of their open leads is yours now."
    plural = "{leaver} has left the team: {count} of their open leads are yours now."
    assert "5 открытых лидов" in i18n.gettext(singular, plural, 5, locale="ru").format(
        leaver="A", count=5
    )
