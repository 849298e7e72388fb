"""Schemathesis against the served OpenAPI schema: generated requests never get a 5xx, and
every answer is one the schema documents, with the documented content type.

The app runs on a real local port in the test's event loop (its database sessions belong to
that loop); schemathesis sends its generated requests from a worker thread.
"""

import asyncio
import socket
import zlib
from collections.abc import AsyncIterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sources
from core.models import WebhookDelivery
from tests import factories
from webhooks.app import create_app
from webhooks.graph import GraphClient
from webhooks.leads import leads_router
from webhooks.metrics import Metrics, metrics_router

SECRET = "whsec_" + "ZnV6emluZy1rZXktMDEyMzQ1Njc4OQ=="
#: Generated requests per operation: enough to reach every branch, bounded for CI time.
EXAMPLES = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def served(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> AsyncIterator[tuple[str, dict]]:
    """The webhook app on a local port, with a generic source `fuzz` and a rep to route to."""
    team = await factories.team(session, "Alpha", country="RU")
    await factories.user(session, team, name="Anna")
    values = {"team": "Alpha", "secret": SECRET, "rate": 1000, "burst": 10_000}
    await sources.add_source(session, name="fuzz", kind="generic", values=values)
    metrics = Metrics()
    router = leads_router(
        sessions=sessions,
        max_bytes=4096,
        metrics=metrics,
        graph=GraphClient("http://127.0.0.1:9"),
    )
    app = create_app(routers=[router, metrics_router(metrics)])
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers a flag, not an event, for "listening"
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app.openapi()
    server.should_exit = True
    await serving


def _fuzz(operation: APIOperation, base_url: str) -> None:
    """Generated requests to one operation; half of the POSTs signed, to reach intake,
    and a third of the JSON ones with a real phone, to reach routing."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case) -> None:
        headers = {}
        if case.method == "POST":
            case.path_parameters = {"name": "fuzz"}
            mark = zlib.crc32(repr(case.body).encode())
            if mark % 2:
                headers["Authorization"] = f"Bearer {SECRET}"
            if mark % 3 == 0 and isinstance(case.body, dict):
                # A reachable person now and then, so that routing meets the odd names too.
                case.body["phone"] = f"+7912{mark % 10**7:07d}"
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS)

    check()


async def test_generated_requests_get_documented_answers_and_never_a_server_error(
    served: tuple[str, dict], session: AsyncSession
) -> None:
    base_url, spec = served
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/webhooks/leads/{name}"),
        ("GET", "/webhooks/leads/{name}"),
        ("GET", "/healthz"),
    }
    for operation in operations:
        await asyncio.to_thread(_fuzz, operation, base_url)
    # The signed half reached intake: every one of those is in the journal, lead or not.
    journal = await session.exec(select(WebhookDelivery.outcome))
    outcomes = set(journal.all())
    assert {"accepted", "rejected"} <= outcomes, outcomes
