"""Extract messages from the code and merge them into the catalogs: `python -m locales.update`.

Translators then fill in the new entries of each `.po` file; `.mo` files are never edited.
"""

import copy
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from core.settings import LOCALES
from locales import DOMAIN, LOCALES_DIR

ROOT = LOCALES_DIR.parent
SOURCES = ("bot", "core", "webhooks", "leadloop")
SOURCE_LOCALE = "en"
#: `_(text)` and `_(singular, plural, n)` (spec by argument count), and lazy `__(text)`.
KEYWORDS = {"_": {1: (1,), None: (1, 2)}, "__": None}


def extract() -> Catalog:
    """Every translatable message the code uses."""
    catalog = Catalog(project="LeadLoop", fuzzy=False)
    for package in SOURCES:
        for path, lineno, message, comments, context in extract_from_dir(
            ROOT / package, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            catalog.add(
                message,
                locations=[(f"{package}/{path}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return catalog


def _copy_source_texts(catalog: Catalog) -> None:
    """The code is written in English: the English catalog says exactly what the code says."""
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def main() -> None:
    template = extract()
    with (LOCALES_DIR / f"{DOMAIN}.pot").open("wb") as pot:
        write_po(pot, template, width=100, no_location=True, sort_output=True)
    for locale in LOCALES:
        with catalog_path(locale).open("rb") as po:
            catalog = read_po(po, locale=locale)
        # A copy each: the English catalog's texts are filled in on the very message objects
        # an update hands over, and they must not leak into the other catalogs as "translations".
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        if locale == SOURCE_LOCALE:
            _copy_source_texts(catalog)
        buffer = BytesIO()
        write_po(
            buffer, catalog, width=100, no_location=True, sort_output=True, ignore_obsolete=True
        )
        catalog_path(locale).write_bytes(buffer.getvalue())


if __name__ == "__main__":
    main()
