"""Building and finding the Message objects the bot sends and edits."""

from __future__ import annotations

import copy
from typing import Any

from .dispatch import CallContext
from .formatting import format_text
from .state import bad_request, unix_now

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def message_text(ctx: CallContext) -> tuple[str, list[dict[str, Any]]]:
    params = ctx.params
    return format_text(
        params.get("text"),
        params.text("parse_mode"),
        params.obj("entities"),
        limit=TEXT_LIMIT,
        empty_error="message text is empty",
        long_error="message is too long",
    )


def caption(ctx: CallContext) -> tuple[str, list[dict[str, Any]]]:
    params = ctx.params
    return format_text(
        params.get("caption"),
        params.text("parse_mode"),
        params.obj("caption_entities"),
        limit=CAPTION_LIMIT,
        empty_error=None,
        long_error="message caption is too long",
    )


def _reply_target(ctx: CallContext, chat_id: int) -> dict[str, Any] | None:
    params = ctx.params
    reply = params.obj("reply_parameters") or {}
    if not isinstance(reply, dict):
        raise bad_request("can't parse reply parameters JSON object")
    message_id = reply.get("message_id", params.get("reply_to_message_id"))
    if message_id is None:
        return None
    allow_missing = reply.get(
        "allow_sending_without_reply", params.flag("allow_sending_without_reply")
    )
    target_chat = int(reply.get("chat_id", chat_id))
    target = ctx.state.find_message(target_chat, int(message_id))
    if target is None:
        if allow_missing:
            return None
        raise bad_request("message to be replied not found")
    target = copy.deepcopy(target)
    target.pop("reply_to_message", None)  # Telegram never nests replies deeper than one level
    return target


def new_bot_message(
    ctx: CallContext, chat_id: int, content: dict[str, Any], markup: dict[str, Any] | None
) -> dict[str, Any]:
    """Store a message sent by the bot and return it as the API answers it."""
    state = ctx.state
    reply_to = _reply_target(ctx, chat_id)
    message: dict[str, Any] = {
        "message_id": state.next_message_id(chat_id),
        "from": dict(state.bot_user),
        "chat": dict(state.chat(chat_id)),
        "date": unix_now(),
    }
    if ctx.params.get("message_thread_id") is not None:
        message["message_thread_id"] = ctx.params.integer("message_thread_id")
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    if ctx.params.flag("protect_content"):
        message["has_protected_content"] = True
    message.update({key: value for key, value in content.items() if value})
    if markup is not None:
        message["reply_markup"] = markup
    state.store_message(message)
    return copy.deepcopy(message)


def message_to_edit(ctx: CallContext) -> dict[str, Any]:
    """The stored bot message an edit* call addresses, or Telegram's error."""
    params = ctx.params
    if "inline_message_id" in params and "chat_id" not in params:
        raise bad_request("MESSAGE_ID_INVALID")
    chat_id = params.chat_id()
    message = ctx.state.find_message(chat_id, params.message_id())
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != ctx.state.bot_id:
        raise bad_request("message can't be edited")
    return message


def apply_edit(
    message: dict[str, Any], changes: dict[str, Any], markup: dict[str, Any] | None
) -> dict[str, Any]:
    """Apply an edit, refusing no-op edits the way Telegram does."""
    unchanged = all(message.get(key) == (value or None) for key, value in changes.items())
    if unchanged and message.get("reply_markup") == markup:
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    for key, value in changes.items():
        if value:
            message[key] = value
        else:
            message.pop(key, None)
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup
    message["edit_date"] = unix_now()
    return copy.deepcopy(message)
