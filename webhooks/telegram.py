"""The Telegram webhook: Telegram POSTs updates here when LEADLOOP_PUBLIC_URL is set."""

import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from webhooks.body import read_limited

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram re-sends an update it got no answer for within about a minute: remember recent ids.
_REMEMBERED_UPDATES = 10_000

UpdateSink = Callable[[dict[str, Any]], Awaitable[None]]
log = logging.getLogger(__name__)


class _RecentIds:
    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: OrderedDict[int, None] = OrderedDict()

    def seen(self, update_id: int) -> bool:
        """True if the id came before; otherwise remember it."""
        if update_id in self.ids:
            return True
        self.ids[update_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False


def telegram_router(*, secret: str, max_bytes: int, sink: UpdateSink) -> APIRouter:
    """A router whose one route checks Telegram's secret header and hands the update on."""
    router = APIRouter()
    recent = _RecentIds(_REMEMBERED_UPDATES)

    @router.post(PATH, include_in_schema=False)
    async def receive_update(request: Request) -> dict[str, bool]:
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong secret token")
        body = await read_limited(request, max_bytes)
        try:
            update = json.loads(body)
            update_id = int(update["update_id"])
        except (ValueError, KeyError, TypeError):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail="not a Telegram update"
            ) from None
        if not recent.seen(update_id):
            await sink(update)
        return {"ok": True}

    return router
