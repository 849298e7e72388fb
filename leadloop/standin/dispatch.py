"""The method table and the pipeline every call goes through: failures, handler, record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .params import Files, Params
from .state import ApiCall, ApiError, StandinState

log = logging.getLogger("leadloop.standin")

# Methods that talk to a chat, so a user blocking the bot makes them fail.
CHAT_WRITE_PREFIXES = ("send", "edit", "copy", "forward")


@dataclass
class CallContext:
    state: StandinState
    params: Params
    description: str | None = None  # the optional "description" of a successful answer


Handler = Callable[[CallContext], Awaitable[Any]]
METHODS: dict[str, tuple[str, Handler]] = {}


def api_method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler; Bot API method names are case-insensitive."""

    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = (name, handler)
        return handler

    return register


def _chat_id(params: dict[str, Any]) -> int | None:
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _injected(state: StandinState, method: str, params: dict[str, Any]) -> ApiError | None:
    chat_id = _chat_id(params)
    failure = state.take_failure(method, chat_id)
    if failure is not None:
        return failure
    if chat_id in state.blocked_chats and method.lower().startswith(CHAT_WRITE_PREFIXES):
        return ApiError(403, "Forbidden: bot was blocked by the user")
    return None


async def execute(
    state: StandinState, method: str, params: dict[str, Any], files: Files
) -> tuple[int, dict[str, Any]]:
    """Run one Bot API call and record it; returns (HTTP status, Telegram-shaped body)."""
    entry = METHODS.get(method.lower())
    name = entry[0] if entry else method
    status, body = 200, {}
    try:
        if entry is None:
            raise ApiError(404, "Not Found")
        error = _injected(state, name, params)
        if error is not None:
            raise error
        context = CallContext(state, Params(state, params, files))
        body = {"ok": True, "result": await entry[1](context)}
        if context.description:
            body["description"] = context.description
    except ApiError as error:
        status, body = error.status, error.body()
    log.debug("Bot API %s -> %s", name, status)
    state.record(ApiCall(method=name, params=params, files=files, response=body))
    return status, body
