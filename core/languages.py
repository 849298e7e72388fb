"""Which language a person reads LeadLoop in."""

from core.models import Team, User
from core.settings import LOCALES


def from_telegram(language_code: str | None) -> str | None:
    """Map Telegram's IETF language tag to one of our catalogs, or None if we have none."""
    if not language_code:
        return None
    tag = language_code.lower().replace("_", "-")
    if tag.startswith("zh"):
        # zh, zh-hans, zh-cn and zh-sg are Simplified; Traditional (hant, tw, hk, mo) is not.
        traditional = any(part in ("hant", "tw", "hk", "mo") for part in tag.split("-")[1:])
        return None if traditional else "zh_Hans"
    base = tag.split("-")[0]
    return base if base in LOCALES else None


def resolve_locale(
    *, chosen: str | None, telegram_code: str | None, team_locale: str | None, default: str
) -> str:
    """The person's /lang choice, else their Telegram language, else the team's, else default."""
    for candidate in (chosen, from_telegram(telegram_code), team_locale):
        if candidate in LOCALES:
            return candidate
    return default


def locale_of(user: User | None, team: Team | None, default: str) -> str:
    """The language of a known user (or, without one, of their team) outside any update."""
    return resolve_locale(
        chosen=user.locale if user else None,
        telegram_code=user.telegram_locale if user else None,
        team_locale=team.locale if team else None,
        default=default,
    )
