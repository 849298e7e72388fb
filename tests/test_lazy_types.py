"""aiogram's types build on first use (bot/lazy_types.py), in the tests as in `leadloop serve`."""

import subprocess
import sys

import aiogram.types

from bot.lazy_types import warm_up

START = {
    "update_id": 1,
    "message": {
        "message_id": 7,
        "date": 0,
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
        "text": "/start",
    },
}


def test_types_nobody_used_are_not_built_and_used_ones_parse() -> None:
    assert aiogram.types.GiveawayWinners.__pydantic_complete__ is False
    warm_up()
    assert aiogram.types.Update.__pydantic_complete__ is True
    update = aiogram.types.Update.model_validate(START)
    assert update.message is not None and update.message.text == "/start"
    assert update.message.from_user is not None and update.message.from_user.first_name == "Ann"


def test_the_warm_up_builds_what_a_push_needs() -> None:
    """Built at start-up, not when the first lead's offer is sent."""
    probe = (
        "import leadloop.server, aiogram.methods as m, aiogram.types as t\n"
        "from bot.lazy_types import warm_up\n"
        "models = (m.SendMessage, m.EditMessageText, t.InlineKeyboardMarkup)\n"
        "print([model.__pydantic_complete__ for model in models])\n"
        "warm_up()\n"
        "print([model.__pydantic_complete__ for model in models])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split("\n")[:2] == ["[False, False, False]", "[True, True, True]"]


def test_the_server_imports_aiogram_with_lazy_types() -> None:
    probe = (
        "import leadloop.server, aiogram.types as types; "
        "print(types.GiveawayWinners.__pydantic_complete__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"
