"""Validation of reply_markup the way the Bot API checks keyboards."""

from __future__ import annotations

from typing import Any

from .state import bad_request

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
URL_SCHEMES = ("http://", "https://", "tg://", "ton://")


def _rows(markup: dict[str, Any], key: str) -> list[list[Any]]:
    rows = markup[key]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{key}" of the reply markup must be an Array of Arrays')
    return rows


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
    actions = [key for key in INLINE_ACTIONS if key in button]
    if not actions:
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
    if "callback_data" in button:
        data = str(button["callback_data"]).encode()
        if not 1 <= len(data) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = str(button["url"])
        if not url.lower().startswith(URL_SCHEMES) or len(url) <= len("tg://"):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _check_reply_button(button: Any) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')


def check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate reply_markup; returns what a sent Message shows (only inline keyboards)."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = _rows(markup, "inline_keyboard")
        for row in rows:
            for button in row:
                _check_inline_button(button)
        if not any(rows):
            return None
        return {"inline_keyboard": [row for row in rows if row]}
    if "keyboard" in markup:
        rows = _rows(markup, "keyboard")
        if not any(rows):
            raise bad_request("keyboard must be non-empty")
        for row in rows:
            for button in row:
                _check_reply_button(button)
        return None
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")


def check_inline_markup(markup: Any) -> dict[str, Any] | None:
    """reply_markup for edits, where only inline keyboards are allowed."""
    if isinstance(markup, dict) and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return check_reply_markup(markup)
