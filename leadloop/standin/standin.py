"""BotApiStandin: the object tests and the demo page hold to drive the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from .delivery import WebhookDeliverer
from .media import store_document, store_photo
from .server import StandinServer
from .state import ApiCall, ApiError, Failure, StandinState

DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class BotApiStandin:
    """An in-process Telegram Bot API server for one bot."""

    def __init__(
        self,
        *,
        token: str,
        bot_id: int = 7000000001,
        username: str = "leadloop_bot",
        first_name: str = "LeadLoop",
    ) -> None:
        bot_user = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}
        self.state = StandinState(token=token, bot_user=bot_user)
        self._server = StandinServer(self.state)
        self._deliverer = WebhookDeliverer(self.state)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await self._server.start(host, port)
        await self._deliverer.start()

    async def stop(self) -> None:
        self.state.closing = True
        # Let pending long polls answer before the server goes away.
        self.state.updates_signal.fire()
        await self._deliverer.stop()
        await self._server.stop()

    async def __aenter__(self) -> BotApiStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._server.base_url is None:
            raise RuntimeError("the stand-in is not started")
        return self._server.base_url

    @property
    def bot_user(self) -> dict[str, Any]:
        return dict(self.state.bot_user)

    @property
    def calls(self) -> list[ApiCall]:
        return self.state.calls

    def calls_of(self, method: str) -> list[ApiCall]:
        return [call for call in self.state.calls if call.method.lower() == method.lower()]

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the agreed public API
        *,
        since: int = 0,
    ) -> ApiCall:
        """The first call of method (at index >= since) matching predicate, waiting if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = since
        while True:
            calls = self.state.calls
            for call in calls[checked:]:
                if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                    return call
            checked = max(checked, len(calls))
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self.state.calls_signal.wait(remaining):
                seen = ", ".join(call.method for call in calls[since:]) or "none"
                raise TimeoutError(f"no matching {method} call within {timeout}s; calls: {seen}")

    def add_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates/webhook; returns it with update_id (and ids) filled."""
        return self.state.add_update(update)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self.state.updates)

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        retry_after: int | None = None,
        description: str | None = None,
        count: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next count calls of method (optionally only for chat_id) with an error."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif description is None:
            description = DEFAULT_DESCRIPTIONS.get(status, "Error")
        failure = Failure(method, status, description, retry_after, count, chat_id)
        self.state.failures.append(failure)

    def block_chat(self, chat_id: int) -> None:
        """Behave as if the user blocked the bot: sends and edits to the chat answer 403."""
        self.state.blocked_chats.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self.state.blocked_chats.discard(chat_id)

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The conversation as Telegram shows it: user and bot messages, edits applied."""
        return self.state.chat_messages(chat_id)

    def upload_user_file(
        self,
        data: bytes,
        *,
        kind: Literal["photo", "document"] = "photo",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> Any:
        """Store a file sent by a user; returns the PhotoSize list or Document for an update."""
        try:
            if kind == "photo":
                return store_photo(self.state, data)
            return store_document(self.state, data, file_name, mime_type)
        except ApiError as error:
            raise ValueError(error.description) from None

    def file_bytes(self, file_id: str) -> bytes:
        return self.state.files[file_id].data

    @property
    def commands(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Command lists by (canonical scope JSON, language code)."""
        return self.state.commands

    @property
    def webhook(self) -> dict[str, Any] | None:
        return self.state.webhook

    @property
    def callback_answers(self) -> dict[str, dict[str, Any]]:
        """answerCallbackQuery parameters by callback query id."""
        return self.state.callback_answers
