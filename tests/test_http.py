"""The HTTP side of the foundation: health, and Telegram's webhook route."""

import json
from typing import Any

import httpx
import pytest

from webhooks.app import create_app
from webhooks.telegram import PATH, SECRET_HEADER, telegram_router

SECRET = "s3cret_Token-1"


@pytest.fixture
def received() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def client(received: list[dict[str, Any]]) -> httpx.AsyncClient:
    async def sink(update: dict[str, Any]) -> None:
        received.append(update)

    app = create_app(routers=[telegram_router(secret=SECRET, max_bytes=2048, sink=sink)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def _update(update_id: int) -> bytes:
    message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "/start"}
    return json.dumps({"update_id": update_id, "message": message}).encode()


async def test_an_update_with_the_secret_is_handed_on_once(
    client: httpx.AsyncClient, received: list[dict[str, Any]]
) -> None:
    for _ in range(2):  # Telegram re-sends an update it thinks was not answered
        response = await client.post(PATH, content=_update(7), headers={SECRET_HEADER: SECRET})
        assert response.status_code == 200
    assert [update["update_id"] for update in received] == [7]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}])
async def test_a_missing_or_wrong_secret_is_401(
    client: httpx.AsyncClient, received: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    response = await client.post(PATH, content=_update(8), headers=headers)
    assert response.status_code == 401
    assert received == []


async def test_an_oversized_update_is_413(
    client: httpx.AsyncClient, received: list[dict[str, Any]]
) -> None:
    body = json.dumps({"update_id": 9, "padding": "x" * 4096}).encode()
    response = await client.post(PATH, content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 413
    assert received == []


async def test_an_oversized_stream_without_length_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():
        for _ in range(10):
            yield b"x" * 512

    response = await client.post(PATH, content=chunks(), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"message": {}}'])
async def test_a_body_that_is_no_update_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(PATH, content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400
