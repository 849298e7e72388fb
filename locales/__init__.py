"""Gettext catalogs (en, ru, zh_Hans): `.po` sources, compiled to `.mo` when LeadLoop starts."""

from pathlib import Path

LOCALES_DIR = Path(__file__).parent
DOMAIN = "messages"
