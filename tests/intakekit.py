"""The lead-webhook app under test and what intake tests share: fixtures, signing, reading."""

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sources
from core.models import Activity, IntakeKey, Lead, WebhookDelivery
from tests import factories
from webhooks.app import create_app
from webhooks.graph import GraphClient
from webhooks.leads import leads_router
from webhooks.metrics import Metrics, metrics_router

SAMPLES = Path(__file__).parent / "fixtures" / "webhooks"
WHSEC = "whsec_" + base64.b64encode(b"k" * 24).decode()
BEARER = {"authorization": f"Bearer {WHSEC}", "content-type": "application/json"}
MAX_BYTES = 64 * 1024


def sample(vendor: str, name: str) -> dict:
    data = json.loads((SAMPLES / f"{vendor}.json").read_text())
    if name == "vector":
        return data["test_vector"]
    return next(item for item in data["requests"] if item["name"].startswith(name))


@pytest.fixture
def on_graph_fetch() -> list[Callable[[], Awaitable[None]]]:
    """Steps the Graph API stand-in takes before it answers (a test adds its own)."""
    return []


@pytest.fixture
async def graph(on_graph_fetch: list[Callable[[], Awaitable[None]]]) -> AsyncIterator[str]:
    """A stand-in for Meta's Graph API: any leadgen id has a name, phone and email."""

    async def lead(request: web.Request) -> web.Response:
        for step in on_graph_fetch:
            await step()
        leadgen_id = request.match_info["id"]
        if request.query.get("access_token") != "page-token":
            return web.json_response({"error": {"message": "bad token"}}, status=400)
        return web.json_response(
            {
                "id": leadgen_id,
                "field_data": [
                    {"name": "full_name", "values": [f"Meta {leadgen_id[-3:]}"]},
                    {"name": "phone_number", "values": [f"+1415555{leadgen_id[-4:]}"]},
                    {"name": "email", "values": [f"m{leadgen_id[-3:]}@example.com"]},
                ],
            }
        )

    app = web.Application()
    app.router.add_get("/{id}", lead)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def client(
    sessions: async_sessionmaker[AsyncSession], graph: str
) -> AsyncIterator[httpx.AsyncClient]:
    metrics = Metrics()
    app = create_app(
        routers=[
            leads_router(
                sessions=sessions, max_bytes=MAX_BYTES, metrics=metrics, graph=GraphClient(graph)
            ),
            metrics_router(metrics),
        ]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http


@pytest.fixture
async def team(session: AsyncSession):
    team = await factories.team(session, "Alpha", country="RU")
    for name in ("Anna", "Boris"):
        await factories.user(session, team, name=name)
    await factories.user(session, team, role="manager", name="Maria")
    return team


async def add_source(session: AsyncSession, name: str, kind: str, **values: object) -> None:
    await sources.add_source(session, name=name, kind=kind, values={"team": "Alpha", **values})


def standard(body: bytes, message_id: str = "msg_1") -> dict[str, str]:
    stamp = str(int(time.time()))
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def base64_hmac(secret: str, body: bytes) -> str:
    """Typeform's and the README's Apps Script's signature: base64 of HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def meta_signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


async def leads_of(session: AsyncSession) -> list[Lead]:
    session.expire_all()
    return list((await session.exec(select(Lead).order_by(col(Lead.id)))).all())


async def journal_of(session: AsyncSession) -> list[str]:
    """The outcomes of the journalled deliveries, oldest first."""
    query = select(WebhookDelivery.outcome).order_by(col(WebhookDelivery.id))
    return list((await session.exec(query)).all())


async def keys_of(session: AsyncSession) -> list[str]:
    return list((await session.exec(select(IntakeKey.key).order_by(col(IntakeKey.id)))).all())


async def nothing_stored(session: AsyncSession) -> bool:
    """No lead, no journalled delivery, no remembered key: a refusal kept nothing."""
    return (await leads_of(session), await journal_of(session), await keys_of(session)) == (
        [],
        [],
        [],
    )


async def activities_of(session: AsyncSession) -> list[tuple[int, str, str | None]]:
    query = select(Activity).order_by(col(Activity.id)).execution_options(populate_existing=True)
    return [(row.lead_id, row.summary, row.intent) for row in (await session.exec(query)).all()]


async def counted(client: httpx.AsyncClient, source: str, outcome: str) -> int:
    """How many requests /metrics says `source` had with `outcome` (0 when not listed)."""
    text = (await client.get("/metrics")).text
    pattern = (
        rf'^leadloop_webhook_requests_total\{{source="{re.escape(source)}",'
        rf'outcome="{re.escape(outcome)}"\}} (\d+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def lead_json(name: str, phone: str | None = None, email: str | None = None, **more: str) -> bytes:
    fields = {"name": name, "phone": phone, "email": email, **more}
    return json.dumps({key: value for key, value in fields.items() if value}).encode()
