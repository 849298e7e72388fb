"""Factories for user-side Update dicts, shaped like the ones Telegram sends.

message_id, date and update_id may be left out: BotApiStandin.add_update fills them in.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from .formatting import utf16_len
from .state import unix_now

UserLike = dict[str, Any] | int
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
_query_ids = itertools.count(4_382_947_120_001)


def make_user(
    user_id: int,
    first_name: str = "Test",
    *,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = "en",
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    extra = {"last_name": last_name, "username": username, "language_code": language_code}
    user.update({key: value for key, value in extra.items() if value is not None})
    return user


def _user(user: UserLike) -> dict[str, Any]:
    return make_user(user) if isinstance(user, int) else dict(user)


def private_chat(user: UserLike) -> dict[str, Any]:
    """The private chat between the bot and user."""
    sender = _user(user)
    chat = {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}
    chat.update({key: sender[key] for key in ("last_name", "username") if key in sender})
    return chat


def group_chat(chat_id: int, title: str = "Sales team") -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": title}


def _message(
    user: UserLike,
    chat: dict[str, Any] | None,
    message_id: int | None,
    content: dict[str, Any],
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "date": unix_now(),
        "chat": dict(chat) if chat is not None else private_chat(user),
        "from": _user(user),
    }
    if message_id is not None:
        message["message_id"] = message_id
    message.update(content)
    return {"message": message}


def text_message(
    user: UserLike,
    text: str,
    *,
    chat: dict[str, Any] | None = None,
    message_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A text message from user; a leading /command gets its bot_command entity."""
    content: dict[str, Any] = {"text": text}
    command = _COMMAND_RE.match(text)
    if command:
        content["entities"] = [
            {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
        ]
    if reply_to is not None:
        content["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
    return _message(user, chat, message_id, content)


def command_message(
    user: UserLike, command: str, args: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A "/command args" message, e.g. command_message(42, "start", "ref_abc")."""
    text = f"/{command.lstrip('/')}" + (f" {args}" if args else "")
    return text_message(user, text, **kwargs)


def callback_query(
    user: UserLike, message: dict[str, Any], data: str, *, query_id: str | None = None
) -> dict[str, Any]:
    """The user pressing an inline button with callback_data data under a bot message."""
    chat_id = int(message["chat"]["id"])
    return {
        "callback_query": {
            "id": query_id or str(next(_query_ids)),
            "from": _user(user),
            "message": dict(message),
            # Telegram's chat_instance is an opaque, stable id of the chat.
            "chat_instance": str(abs(chat_id) * 2_654_435_761 % 10**19),
            "data": data,
        }
    }


def contact_message(
    user: UserLike,
    phone_number: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    own: bool = True,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The user sharing a contact; own=True is the "share my phone number" button."""
    sender = _user(user)
    contact: dict[str, Any] = {
        "phone_number": phone_number,
        "first_name": first_name or sender["first_name"],
    }
    surname = last_name if last_name is not None else (sender.get("last_name") if own else None)
    if surname:
        contact["last_name"] = surname
    if own:
        contact["user_id"] = sender["id"]
    return _message(sender, chat, None, {"contact": contact})


def photo_message(
    user: UserLike,
    photo: list[dict[str, Any]],
    *,
    caption: str | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A photo from the user; photo comes from BotApiStandin.upload_user_file(kind="photo")."""
    content: dict[str, Any] = {"photo": [dict(size) for size in photo]}
    if caption:
        content["caption"] = caption
    return _message(user, chat, None, content)


def document_message(
    user: UserLike,
    document: dict[str, Any],
    *,
    caption: str | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A file from the user; document comes from upload_user_file(kind="document")."""
    content: dict[str, Any] = {"document": dict(document)}
    if caption:
        content["caption"] = caption
    return _message(user, chat, None, content)
