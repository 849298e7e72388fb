"""The HTTP face of the stand-in: an aiohttp.web app serving /bot<token>/<method> and files."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# Importing the method modules fills the method table.
from . import bot_settings, delivery, media, methods  # noqa: F401
from .dispatch import execute
from .params import parse_body
from .state import ApiError, StandinState

# Above the 50 MB upload limit, so oversized uploads get Telegram's answer, not aiohttp's.
MAX_BODY = 60 * 1024 * 1024


def _error(status: int, description: str) -> web.Response:
    return web.json_response(ApiError(status, description).body(), status=status)


class StandinServer:
    """Runs the aiohttp application on a local port."""

    def __init__(self, state: StandinState) -> None:
        self.state = state
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/bot{token}/{method}", self._api)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    async def start(self, host: str, port: int) -> str:
        # No access log: request lines carry the bot token.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.state.token:
            return _error(401, "Unauthorized")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "Request Entity Too Large")
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        try:
            params, files = parse_body(request.headers.get("Content-Type", ""), body)
        except ApiError as error:
            return _error(error.status, error.description)
        query, _ = parse_body("application/x-www-form-urlencoded", request.query_string.encode())
        status, answer = await execute(
            self.state, request.match_info["method"], {**query, **params}, files
        )
        return web.json_response(answer, status=status)

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.state.files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.state.token or stored is None:
            return _error(404, "Not Found")
        content_type = stored.mime_type or (
            "image/jpeg" if stored.kind == "photo" else "application/octet-stream"
        )
        return web.Response(body=stored.data, content_type=content_type)
