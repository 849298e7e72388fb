"""The FastAPI application: health, and whatever routers the composition root adds."""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI


class Lifespan(Protocol):
    def __call__(self, app: FastAPI) -> AbstractAsyncContextManager[Any]: ...


def create_app(*, routers: Sequence[APIRouter] = (), lifespan: Lifespan | None = None) -> FastAPI:
    app = FastAPI(title="LeadLoop", version="0.1.0", lifespan=lifespan)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """200 as soon as the server is up."""
        return {"status": "ok"}

    for router in routers:
        app.include_router(router)
    return app
