import pytest

from core.db import async_url
from core.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "LEADLOOP_DATABASE_URL",
        "LEADLOOP_HTTP_PORT",
        "TELEGRAM_BOT_TOKEN",
        "LEADLOOP_WEBHOOK_SECRET",
        "LEADLOOP_DEFAULT_LOCALE",
        "LEADLOOP_DEFAULT_TIMEZONE",
        "TELEGRAM_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults(tmp_path) -> None:
    settings = load_settings()
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert settings.webhook_max_bytes == 1024 * 1024
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/leadloop.sqlite3"
    assert settings.telegram_api_base is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LEADLOOP_HTTP_PORT", "eighty", "setting LEADLOOP_HTTP_PORT: Input should be a valid"),
        ("LEADLOOP_HTTP_PORT", "70000", "setting LEADLOOP_HTTP_PORT:"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "setting TELEGRAM_BOT_TOKEN: expected <digits>"),
        ("LEADLOOP_WEBHOOK_SECRET", "has spaces", "setting LEADLOOP_WEBHOOK_SECRET: 1-256"),
        ("LEADLOOP_WEBHOOK_SECRET", "x" * 257, "setting LEADLOOP_WEBHOOK_SECRET: 1-256"),
        ("LEADLOOP_DEFAULT_LOCALE", "fr", "setting LEADLOOP_DEFAULT_LOCALE: must be one of"),
        ("LEADLOOP_DEFAULT_TIMEZONE", "Mars/Base", "setting LEADLOOP_DEFAULT_TIMEZONE: unknown"),
        ("LEADLOOP_DATABASE_URL", "mysql://x", "setting LEADLOOP_DATABASE_URL: expected"),
        ("TELEGRAM_API_BASE", "localhost:8081", "setting TELEGRAM_API_BASE: expected an http"),
        ("LEADLOOP_WEBHOOK_MAX_BYTES", "0", "setting LEADLOOP_WEBHOOK_MAX_BYTES:"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_env_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("LEADLOOP_HTTP_PORT=9001\nTELEGRAM_BOT_TOKEN=123:abc\n")
    settings = Settings()
    assert settings.http_port == 9001
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_every_spelling_of_a_database_url_gets_the_async_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver
