"""LeadLoop's configuration, read once from the environment and an optional `.env` file."""

import os
import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCALES = ("en", "ru", "zh_Hans")
_BOT_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "leadloop"


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _locale(value: str) -> str:
    if value not in LOCALES:
        raise ValueError(f"must be one of {', '.join(LOCALES)}")
    return value


def _secret_matching(pattern: re.Pattern[str], what: str):
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is not None and not pattern.fullmatch(value.get_secret_value()):
            raise ValueError(what)
        return value

    return check


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=default_data_dir, alias="LEADLOOP_DATA_DIR")
    database_url: str | None = Field(default=None, alias="LEADLOOP_DATABASE_URL")
    http_host: str = Field(default="127.0.0.1", alias="LEADLOOP_HTTP_HOST")
    http_port: int = Field(default=8000, ge=0, le=65535, alias="LEADLOOP_HTTP_PORT")
    telegram_bot_token: Annotated[
        SecretStr | None,
        AfterValidator(
            _secret_matching(_BOT_TOKEN, "expected <digits>:<letters>, as BotFather gives")
        ),
    ] = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    #: None means Telegram's public Bot API server (aiogram's default).
    telegram_api_base: str | None = Field(default=None, alias="TELEGRAM_API_BASE")
    public_url: str | None = Field(default=None, alias="LEADLOOP_PUBLIC_URL")
    webhook_secret: Annotated[
        SecretStr | None,
        AfterValidator(_secret_matching(_WEBHOOK_SECRET, "1-256 characters of A-Z a-z 0-9 _ -")),
    ] = Field(default=None, alias="LEADLOOP_WEBHOOK_SECRET")
    webhook_max_bytes: int = Field(default=1024 * 1024, gt=0, alias="LEADLOOP_WEBHOOK_MAX_BYTES")
    #: Messages a second the outbox sender may send overall (Telegram allows about 30).
    send_rate: float = Field(default=30.0, gt=0, alias="LEADLOOP_SEND_RATE")
    #: Meta's Graph API, where a leadgen notification's fields are fetched.
    meta_graph_url: str = Field(
        default="https://graph.facebook.com/v21.0", alias="LEADLOOP_META_GRAPH_URL"
    )
    default_locale: Annotated[str, AfterValidator(_locale)] = Field(
        default="en", alias="LEADLOOP_DEFAULT_LOCALE"
    )
    default_timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        default="UTC", alias="LEADLOOP_DEFAULT_TIMEZONE"
    )

    @field_validator("telegram_api_base", "public_url", "meta_graph_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("expected a sqlite:///… or postgresql://… URL")
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'leadloop.sqlite3'}"


def load_settings() -> Settings:
    """Read the settings; a bad one raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {name}: {message}") from None
