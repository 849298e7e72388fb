"""In-memory world of the Bot API stand-in: chats, messages, files, calls, updates, failures."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Telegram only delivers these when they are requested explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
FIRST_UPDATE_ID = 100_000_001


def now() -> datetime:
    return datetime.now(UTC)


def unix_now() -> int:
    return int(now().timestamp())


class ApiError(Exception):
    """A Telegram-shaped error answer: raised by method handlers, rendered by the server."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class ApiCall:
    """One request to /bot<token>/<method> and the answer the stand-in gave."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    response: dict[str, Any]
    at: datetime = field(default_factory=now)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str  # "photo" or "document"
    file_name: str | None = None
    mime_type: str | None = None
    # What a message shows for this file: a PhotoSize list or a Document object.
    telegram_object: Any = None


@dataclass
class Failure:
    """An injected error answer for the next calls of one method."""

    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None = None


class Signal:
    """Wakes every coroutine currently waiting; safe to fire from synchronous code."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, within: float | None) -> bool:
        """Wait for the next fire(); False if it does not come within that many seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(within):  # not wait_for: see OutboxSender.run
                await waiter
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        return True


def update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


@dataclass
class StandinState:
    token: str
    bot_user: dict[str, Any]
    calls: list[ApiCall] = field(default_factory=list)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    # chat_id -> message_id -> message; dicts keep insertion order, which is message order.
    messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    last_message_id: dict[int, int] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    files_by_path: dict[str, StoredFile] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = FIRST_UPDATE_ID
    allowed_updates: list[str] = field(default_factory=list)
    open_callback_queries: set[str] = field(default_factory=set)
    callback_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    blocked_chats: set[int] = field(default_factory=set)
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    bot_settings: dict[str, Any] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    webhook_last_error: tuple[int, str] | None = None
    poll_generation: int = 0
    closing: bool = False
    calls_signal: Signal = field(default_factory=Signal)
    updates_signal: Signal = field(default_factory=Signal)

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    def record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self.calls_signal.fire()

    def chat(self, chat_id: int) -> dict[str, Any]:
        """The Chat object for chat_id, remembering a plausible one for chats never seen."""
        if chat_id not in self.chats:
            if chat_id > 0:
                self.chats[chat_id] = {"id": chat_id, "type": "private", "first_name": "User"}
            else:
                self.chats[chat_id] = {"id": chat_id, "type": "supergroup", "title": "Group"}
        return self.chats[chat_id]

    def find_chat_by_username(self, username: str) -> int | None:
        wanted = username.lstrip("@").lower()
        for chat_id, chat in self.chats.items():
            if str(chat.get("username", "")).lower() == wanted:
                return chat_id
        return None

    def next_message_id(self, chat_id: int) -> int:
        self.last_message_id[chat_id] = self.last_message_id.get(chat_id, 0) + 1
        return self.last_message_id[chat_id]

    def store_message(self, message: dict[str, Any]) -> None:
        chat_id = int(message["chat"]["id"])
        message_id = int(message["message_id"])
        self.last_message_id[chat_id] = max(self.last_message_id.get(chat_id, 0), message_id)
        self.messages.setdefault(chat_id, {})[message_id] = message

    def find_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        return self.messages.get(chat_id, {}).get(message_id)

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.messages.get(chat_id, {}).values()))

    def add_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a user-side update, filling in ids Telegram would assign."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self.next_update_id
        self.next_update_id = max(self.next_update_id, int(update["update_id"]) + 1)
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            if key in update:
                self._absorb_user_message(update[key], edited=key.startswith("edited"))
        if "callback_query" in update:
            self.open_callback_queries.add(str(update["callback_query"]["id"]))
        self.updates.append(update)
        self.updates_signal.fire()
        return copy.deepcopy(update)

    def _absorb_user_message(self, message: dict[str, Any], *, edited: bool) -> None:
        chat = message["chat"]
        chat_id = int(chat["id"])
        self.chats[chat_id] = {**self.chats.get(chat_id, {}), **chat}
        message.setdefault("date", unix_now())
        if edited:
            message.setdefault("edit_date", unix_now())
        if "message_id" not in message:
            message["message_id"] = self.next_message_id(chat_id)
        self.store_message(copy.deepcopy(message))

    def is_allowed(self, update: dict[str, Any]) -> bool:
        kind = update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATES

    def pending_updates(self) -> list[dict[str, Any]]:
        """Queued updates the bot would receive, dropping the ones it opted out of."""
        self.updates = [update for update in self.updates if self.is_allowed(update)]
        return self.updates

    def confirm_updates(self, below: int) -> None:
        self.updates = [u for u in self.updates if int(u["update_id"]) >= below]

    def take_failure(self, method: str, chat_id: int | None) -> ApiError | None:
        for failure in self.failures:
            if failure.method.lower() != method.lower():
                continue
            if failure.chat_id is not None and failure.chat_id != chat_id:
                continue
            failure.remaining -= 1
            if failure.remaining <= 0:
                self.failures.remove(failure)
            return ApiError(failure.status, failure.description, failure.retry_after)
        return None
