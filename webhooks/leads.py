"""`POST /webhooks/leads/{name}`: web forms push leads in; answers say exactly what happened.

Checked in this order: unknown source 404; body too large 413 (before it is read whole);
missing or wrong signature 401; over the source's rate 429 with Retry-After; unparsable or
unreachable person 422 naming the field; accepted, redelivery included, 200. Never a 3xx,
never a 500 for bad input.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake
from core.errors import InvalidInput, NotFound
from core.models import LeadSource, Team, utcnow
from webhooks import signatures
from webhooks.body import read_limited
from webhooks.graph import GraphClient, GraphUnavailable
from webhooks.intake_groups import IntakeGroups
from webhooks.metrics import Metrics
from webhooks.ratelimit import SourceRates
from webhooks.source_cache import SourceCache

log = logging.getLogger(__name__)

_RETRY_AFTER = {"Retry-After": "60"}

#: The body as OpenAPI describes it: any JSON object, form or batch; a source's mapping says
#: which fields are the name, phone and so on (these are the generic kind's defaults).
_LEAD_FIELDS = {
    "type": "object",
    "properties": {
        key: {"type": "string"} for key in ("name", "phone", "email", "comment", "utm_source")
    },
}
LEAD_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [_LEAD_FIELDS, {"type": "array", "items": _LEAD_FIELDS}]}
        },
        "application/x-www-form-urlencoded": {"schema": _LEAD_FIELDS},
        "multipart/form-data": {"schema": _LEAD_FIELDS},
    },
}


def leads_router(
    *,
    sessions: async_sessionmaker[AsyncSession],
    max_bytes: int,
    metrics: Metrics,
    graph: GraphClient,
    clock: Callable[[], Any] = utcnow,
) -> APIRouter:
    router = APIRouter(tags=["lead webhooks"])
    rates = SourceRates()
    groups = IntakeGroups(sessions, clock)
    cache = SourceCache(sessions)

    async def receive_leads(name: str, request: Request) -> JSONResponse:
        """Receive one delivery (a lead, or a batch) from a web form or sender."""
        source, team = await _source(cache, name, metrics)
        body = await _body(request, max_bytes, name, metrics)
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            return await answer(source, team, headers, body, cached=True)
        except _ReadAgain:
            source, team = await _source(cache, name, metrics, fresh=True)
        try:
            return await answer(source, team, headers, body, cached=False)
        except _ReadAgain:  # it changed once more while the delivery was read again
            return _deliver_again("the source changed meanwhile; deliver again")

    router.add_api_route(
        "/webhooks/leads/{name}",
        receive_leads,
        methods=["POST"],
        route_class_override=_PlainRoute,
        responses={
            401: {"description": "missing or wrong signature"},
            404: {"description": "unknown source"},
            413: {"description": "body too large"},
            422: {"description": "no usable lead"},
            429: {"description": "over the source's rate"},
            503: {"description": "not stored (database or Meta's Graph API down): deliver again"},
        },
        openapi_extra={"requestBody": LEAD_BODY},
    )

    async def answer(
        source: LeadSource, team: Team, headers: dict[str, str], body: bytes, *, cached: bool
    ) -> JSONResponse:
        """The delivery's answer, read with the source as cached or as stored now."""
        if source.kind == "tilda" and body.strip() == b"test=test":
            return JSONResponse({"ok": True, "outcome": "connection test"})
        if not _authentic(source, headers, body, clock()):
            if cached:
                raise _ReadAgain  # the secret may have changed since the source was read
            metrics.count(source.name, "unauthenticated")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong signature")
        wait = await rates.retry_after(source.name, source.rate_per_second, source.rate_burst)
        if wait is not None:
            metrics.count(source.name, "rate_limited")
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many requests",
                headers={"Retry-After": str(wait)},
            )
        return await _receive(groups, source, team, headers, body, graph, metrics)

    @router.get(
        "/webhooks/leads/{name}",
        response_class=PlainTextResponse,
        responses={
            403: {"description": "not a Meta source, or a wrong token"},
            404: {"description": "unknown source"},
            503: {"description": "the database is down: try again later"},
        },
    )
    async def meta_handshake(name: str, request: Request) -> str:
        """Meta's subscription check: echo hub.challenge when hub.verify_token matches."""
        source, _ = await _source(cache, name, metrics, fresh=True)
        query = request.query_params
        token = query.get("hub.verify_token", "")
        if (
            source.kind != "meta"
            or query.get("hub.mode") != "subscribe"
            or not source.verify_token
            or not signatures.same(token, source.verify_token)
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "verification failed")
        return query.get("hub.challenge", "")

    return router


class _PlainRoute(APIRoute):
    """A route that calls its endpoint with the request and the path's parameters as they are.

    FastAPI's own handler solves the endpoint's parameters on every request: ~85 µs of the
    1.1-1.5 ms of CPU a lead takes in a flood (benchmarks/README.md, twelfth round). This
    endpoint needs none of it: its one parameter besides the request is a path string, and it
    reads and checks its body itself. OpenAPI describes it from its signature as before.
    (`APIRouter.post` takes no route class, hence `add_api_route`.)
    """

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request=request, **request.path_params)

        return handle


class _ReadAgain(Exception):
    """The source as cached does not hold for this delivery: it is read again as stored."""


async def _source(
    cache: SourceCache, name: str, metrics: Metrics, *, fresh: bool = False
) -> tuple[LeadSource, Team]:
    try:
        return await cache.get(name, fresh=fresh)
    except NotFound:
        metrics.count("unknown", "unknown_source")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead source {name!r}") from None
    except intake.NOT_STORED as error:  # nothing stored: the sender is to deliver again
        log.error("lead source %r not looked up: %s", name, type(error).__name__)
        metrics.count("unknown", "database_unavailable")  # not known to be a source
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the database is unavailable: try again later",
            headers=_RETRY_AFTER,
        ) from None


async def _body(request: Request, max_bytes: int, name: str, metrics: Metrics) -> bytes:
    try:
        return await read_limited(request, max_bytes)
    except HTTPException:
        metrics.count(name, "too_large")
        raise


def _authentic(source: LeadSource, headers: dict[str, str], body: bytes, now: Any) -> bool:
    secret = source.secret
    if source.kind == "tilda" and secret is None:
        return True  # Tilda signs nothing; without a key, unsigned posts are accepted
    if secret is None:
        return False
    checks = {
        "typeform": signatures.typeform,
        "tally": signatures.tally,
        "meta": signatures.meta,
        "tilda": signatures.tilda,
        "google-forms": signatures.google_forms,
    }
    if source.kind in checks:
        return checks[source.kind](secret, headers, body)
    return signatures.standard_webhooks(secret, headers, body, now)


async def _receive(
    groups: IntakeGroups,
    source: LeadSource,
    team: Team,
    headers: dict[str, str],
    body: bytes,
    graph: GraphClient,
    metrics: Metrics,
) -> JSONResponse:
    try:
        pending = await intake.prepare(source, team, headers, body, graph.fill)
        received = await groups.receive(pending)
    except intake.SourceChanged:
        raise _ReadAgain from None
    except GraphUnavailable as error:
        metrics.count(source.name, "graph_unavailable")
        return _deliver_again(str(error))
    except intake.NOT_STORED as error:  # nothing stored: the sender is to deliver again
        log.error("delivery to %s not stored: %s", source.name, type(error).__name__)
        metrics.count(source.name, "not_stored")
        return _deliver_again("not stored; deliver again later")
    except InvalidInput as error:
        metrics.count(source.name, "rejected")
        field = error.params.get("field", "body")
        return JSONResponse({"ok": False, "field": field, "error": str(error)}, status_code=422)
    metrics.count(source.name, received.outcome)
    return JSONResponse({"ok": True, "outcome": received.outcome, "leads": received.lead_ids})


def _deliver_again(error: str) -> JSONResponse:
    """Nothing of the delivery was kept (journal and leads commit together), so a 503 that asks
    the sender to retry loses nothing."""
    return JSONResponse({"ok": False, "error": error}, status_code=503, headers=_RETRY_AFTER)
