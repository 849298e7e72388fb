"""Getting updates to the bot: getUpdates long polling and webhook delivery."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
from typing import Any

import aiohttp

from .dispatch import CallContext, api_method, execute
from .params import parse_body
from .state import ApiError, StandinState, bad_request, unix_now

log = logging.getLogger("leadloop.standin")

SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def _allowed_updates(ctx: CallContext) -> None:
    allowed = ctx.params.obj("allowed_updates")
    if isinstance(allowed, list):
        # Telegram remembers the last list; an empty one restores the default set.
        ctx.state.allowed_updates = [str(kind) for kind in allowed]


@api_method("getUpdates")
async def get_updates(ctx: CallContext) -> list[dict[str, Any]]:
    state, params = ctx.state, ctx.params
    if state.webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    offset = params.integer("offset")
    limit = min(max(params.integer("limit") or 100, 1), 100)
    timeout = params.get("timeout") or 0
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise bad_request("invalid timeout specified")
    _allowed_updates(ctx)
    state.poll_generation += 1
    generation = state.poll_generation
    state.updates_signal.fire()  # a still-waiting older request now loses with a conflict
    if offset is not None and offset < 0:
        # Negative offsets count from the end and forget everything before.
        state.updates = state.pending_updates()[offset:]
    elif offset is not None:
        state.confirm_updates(offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(timeout)
    while True:
        if generation != state.poll_generation:
            raise ApiError(409, POLL_CONFLICT)
        pending = state.pending_updates()
        if pending or state.closing or state.webhook is not None:
            return copy.deepcopy(pending[:limit])
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        await state.updates_signal.wait(remaining)


@api_method("setWebhook")
async def set_webhook(ctx: CallContext) -> bool:
    state, params = ctx.state, ctx.params
    url = params.text("url") or ""
    if not url:
        return await delete_webhook(ctx)
    if not url.lower().startswith(("https://", "http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.text("secret_token")
    if secret is not None and not SECRET_RE.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.flag("drop_pending_updates"):
        state.updates.clear()
    _allowed_updates(ctx)
    same = state.webhook is not None and state.webhook["url"] == url
    state.webhook = {
        "url": url,
        "secret_token": secret,
        "max_connections": params.integer("max_connections") or 40,
        "allowed_updates": params.obj("allowed_updates"),
        "ip_address": params.text("ip_address"),
        "drop_pending_updates": params.flag("drop_pending_updates"),
    }
    state.webhook_last_error = None
    state.updates_signal.fire()
    ctx.description = "Webhook is already set" if same else "Webhook was set"
    return True


@api_method("deleteWebhook")
async def delete_webhook(ctx: CallContext) -> bool:
    state = ctx.state
    if ctx.params.flag("drop_pending_updates"):
        state.updates.clear()
    ctx.description = "Webhook was deleted" if state.webhook else "Webhook is already deleted"
    state.webhook = None
    state.updates_signal.fire()
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(ctx: CallContext) -> dict[str, Any]:
    state = ctx.state
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.pending_updates()),
    }
    if state.webhook is not None:
        info["url"] = state.webhook["url"]
        info["max_connections"] = state.webhook["max_connections"]
        if state.allowed_updates:
            info["allowed_updates"] = list(state.allowed_updates)
        if state.webhook["ip_address"]:
            info["ip_address"] = state.webhook["ip_address"]
    if state.webhook_last_error is not None:
        info["last_error_date"], info["last_error_message"] = state.webhook_last_error
    return info


class WebhookDeliverer:
    """POSTs queued updates, in order and one at a time, to the webhook that is set."""

    def __init__(
        self, state: StandinState, retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5)
    ) -> None:
        self.state = state
        self.retry_delays = retry_delays
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._run(), name="standin-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        state = self.state
        while not state.closing:
            hook = state.webhook
            pending = state.pending_updates() if hook is not None else []
            if hook is None or not pending:
                await state.updates_signal.wait(None)
                continue
            update = pending[0]
            if await self._deliver(hook, update):
                state.updates = [queued for queued in state.updates if queued is not update]

    async def _deliver(self, hook: dict[str, Any], update: dict[str, Any]) -> bool:
        """True once the update is done with (delivered or given up on)."""
        assert self._session is not None
        headers = {SECRET_HEADER: hook["secret_token"]} if hook["secret_token"] else {}
        for delay in (0.0, *self.retry_delays):
            await asyncio.sleep(delay)
            if self.state.webhook is not hook:
                return False  # the webhook changed; the update stays queued
            try:
                async with self._session.post(hook["url"], json=update, headers=headers) as resp:
                    body = await resp.read()
                    if 200 <= resp.status < 300:
                        await self._run_reply(resp.headers.get("Content-Type", ""), body)
                        return True
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {type(exc).__name__}"
            log.debug("webhook delivery of update %s failed: %s", update["update_id"], error)
            self.state.webhook_last_error = (unix_now(), error)
        return True

    async def _run_reply(self, content_type: str, body: bytes) -> None:
        """A webhook answer may itself be a Bot API call, which Telegram then performs."""
        try:
            params, files = parse_body(content_type, body)
        except ApiError:
            return
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            await execute(self.state, method, params, files)
