"""Lead intake: a verified delivery becomes leads (or activities on known ones), journalled.

The raw delivery, the leads it creates and their offers commit in ONE transaction: either
all of it is kept or none, so nothing received is ever lost or half-done. Redeliveries are
recognised by the vendor's event id (or a content hash) for 72 hours and create nothing new.
"""

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from core import outbox, tags, teams
from core.db import insert_or_ignore
from core.errors import InvalidInput, NotFound
from core.intake_items import Person, display_name, fitted, people, storable, storable_text
from core.leads import find_duplicate
from core.mapping import Inbound, Item, extract, items
from core.models import (
    Activity,
    IntakeKey,
    Lead,
    LeadSource,
    LeadState,
    StageChange,
    Team,
    User,
    WebhookDelivery,
)
from core.payloads import parse_body
from core.pipelines import preset
from core.races import retry_on_race
from core.routing import route
from core.scoring import score
from core.sources import KEY_HEADERS

#: Vendors retry for up to 36 hours (Meta); keys are kept twice as long.
KEY_LIFETIME = timedelta(hours=72)
#: Headers that carry a source's secret itself (a bearer key, Tilda's API key): the journal
#: keeps them as "***", so that reading it reveals no key (a replay checks no signature).
_SECRET_HEADERS = frozenset({"authorization", *KEY_HEADERS})
#: Headers in which senders name a delivery, before the vendors' own event ids.
_EVENT_HEADERS = ("webhook-id", "idempotency-key")

# Core INSERTs for the rows every delivery writes: the ORM's unit of work cost more per
# row than the rest of the work on it.
_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
_NEW_JOURNAL = sa.insert(_DELIVERIES).returning(_DELIVERIES.c.id)
_FIRST_STAGE = sa.insert(StageChange.__table__)  # type: ignore[attr-defined]

#: The longest key both key columns hold (intake_keys.key, the journal's idempotency_key).
_KEY_CHARS = min(
    IntakeKey.__table__.c.key.type.length,  # type: ignore[attr-defined]
    _DELIVERIES.c.idempotency_key.type.length,
)

Fill = Callable[[list[Item], str | None], Awaitable[list[Item]]]


@dataclass(frozen=True)
class Delivery:
    """What arrived over HTTP, as received."""

    headers: Mapping[str, str]
    body: bytes
    #: The vendor's event id or Idempotency-Key; None means "hash the body".
    key: str | None


@dataclass(frozen=True)
class Received:
    outcome: str  # accepted or duplicate
    lead_ids: list[int]
    delivery_id: int


def idempotency_key(delivery: Delivery) -> str:
    """The key as stored: the sender's if the columns can hold it, else a hash of all of it.

    Never cut short: two keys alike in their first 200 characters are still two deliveries.
    """
    key = delivery.key
    if key is None:
        return "sha256:" + hashlib.sha256(delivery.body).hexdigest()
    if len(key) <= _KEY_CHARS and storable_text(key) == key:
        return key
    return "key-sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


async def receive(
    session: AsyncSession,
    *,
    source: LeadSource,
    team: Team,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    fill: Fill | None = None,
) -> Received:
    """Turn a verified delivery into leads; raise InvalidInput (after journalling) if unusable.

    `source` and `team` must not be in `session` (the webhook route reads them in a session
    of its own, `sources.source_and_team`): a rollback here (a lost race, a rejected
    delivery) then leaves them loaded.

    `fill` fetches what the payload only points to (Meta's lead fields); it may raise, and
    then the delivery is journalled as rejected too. Two deliveries for one new person racing
    each other meet at the database's unique index: the loser starts over and finds the
    winner's lead.
    """
    return await retry_on_race(
        session,
        lambda: _receive(
            session, source=source, team=team, headers=headers, body=body, now=now, fill=fill
        ),
    )


async def _receive(
    session: AsyncSession,
    *,
    source: LeadSource,
    team: Team,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    fill: Fill | None = None,
) -> Received:
    try:
        inbounds, event_key = await read(source, headers, body, fill)
    except Exception as error:
        await reject(
            session, source=source, delivery=Delivery(headers, body, None), error=error, now=now
        )
        raise
    delivery = Delivery(headers, body, event_key)
    key = idempotency_key(delivery)
    if not await _remember(session, source, key, now):
        journal_id = await _journal(session, source, delivery, key, "duplicate", now)
        await session.commit()
        return Received("duplicate", [], journal_id)
    try:
        found, skipped = people(inbounds, team)
    except InvalidInput as error:
        await session.rollback()
        await reject(session, source=source, delivery=delivery, error=error, now=now)
        raise
    lead_ids = [await _take(session, source, team, person, now) for person in found]
    journal_id = await _journal(
        session, source, delivery, key, "accepted", now, lead_ids[0], error=skipped
    )
    await session.commit()
    return Received("accepted", lead_ids, journal_id)


async def _remember(session: AsyncSession, source: LeadSource, key: str, now: datetime) -> bool:
    """Store the key; False if it is known (a redelivery)."""
    table = IntakeKey.__table__  # type: ignore[attr-defined]
    statement = insert_or_ignore(session.get_bind().dialect.name, table, "source_id", "key")
    row = {"source_id": source.id, "key": key, "received_at": now}
    result = await session.exec(statement, params=row)
    return result.rowcount == 1


async def reject(
    session: AsyncSession,
    *,
    source: LeadSource,
    delivery: Delivery,
    error: Exception,
    now: datetime,
) -> None:
    """Keep a delivery that could not become leads, to replay it once the cause is fixed."""
    await _journal(session, source, delivery, None, "rejected", now, error=str(error))
    await session.commit()


async def _take(
    session: AsyncSession, source: LeadSource, team: Team, person: Person, now: datetime
) -> int:
    inbound, phone, email = person.inbound, person.phone, person.email
    existing = await find_duplicate(
        session, team_id=team.id, phone_e164=phone.e164 if phone else None, email=email
    )
    if existing is not None:
        await _came_back(session, existing, source, inbound, now)
        return existing.id or 0
    lead = Lead(
        team_id=team.id or 0,
        phone_e164=phone.e164 if phone else None,
        phone_valid=phone.valid if phone else True,
        email=email,
        source=source.name,
        profile=dict(inbound.profile),
        stage=preset(team.preset).first_stage,
        created_at=now,
        state=LeadState.POOL,
        **fitted(
            name=display_name(person),
            phone_raw=phone.raw if phone else None,
            campaign=source.campaign or inbound.utm.get("utm_campaign"),
            region=inbound.region,
            **inbound.utm,
        ),
    )
    _score_new(lead, team, now)
    if source.tags:  # a routing rule may match on them, so they come first
        session.add(lead)
        await session.flush()
        await tags.attach(session, lead, source.tags)
    # Routed while still unsaved (when it has no tags): routing inserts it with its owner
    # and deadline, one INSERT rather than an INSERT and then an UPDATE.
    await route(session, lead=lead, team=team, now=now)
    await session.exec(_FIRST_STAGE, params={"lead_id": lead.id, "to_stage": lead.stage, "at": now})
    if inbound.comment:
        session.add(
            Activity(
                lead_id=lead.id or 0, channel="form", summary=inbound.comment[:4000], created_at=now
            )
        )
    return lead.id or 0


def _score_new(lead: Lead, team: Team, now: datetime) -> None:
    """Score a lead before its first INSERT (saving an UPDATE).

    A new lead has no activity with an intent yet (the form's comment carries none), so
    there is no last intent to look up: the same result as `scoring.rescore`, without a query.
    """
    result = score(lead, team, last_intent=None, now=now)
    lead.score, lead.grade = result.points, result.grade


async def _came_back(
    session: AsyncSession, lead: Lead, source: LeadSource, inbound: Inbound, now: datetime
) -> None:
    """A known person asked again: an activity on their lead, and a word to its owner (to the
    team's managers when nobody owns it: a pooled lead asked for again is worth a look)."""
    summary = inbound.comment or ""
    session.add(
        Activity(
            lead_id=lead.id or 0,
            channel="form",
            summary=summary[:4000],
            next_step=None,
            created_at=now,
            intent="up",
        )
    )
    lead.last_touch_at = now
    if lead.owner_id is not None:
        told = [await session.get_one(User, lead.owner_id)]
    else:
        told = await teams.managers(session, lead.team_id)
    for person in told:
        await outbox.enqueue(
            session,
            kind="lead_returned",
            chat_id=person.telegram_id,
            recipient_id=person.id,
            params={"lead_id": lead.id, "lead_name": lead.name, "source": source.name},
            dedup_key=f"returned:{lead.id}:{person.id}:{now.isoformat()}",
        )


async def _journal(
    session: AsyncSession,
    source: LeadSource,
    delivery: Delivery,
    key: str | None,
    outcome: str,
    now: datetime,
    lead_id: int | None = None,
    error: str | None = None,
) -> int:
    """Keep the delivery as received, in the caller's transaction; its journal id."""
    row = {
        "source_id": source.id,
        "received_at": now,
        "headers": {
            name: "***" if name in _SECRET_HEADERS else value
            for name, value in delivery.headers.items()
        },
        "body": delivery.body,
        "idempotency_key": key,
        "outcome": outcome,
        "error": error,
        "lead_id": lead_id,
    }
    return (await session.exec(_NEW_JOURNAL, params=row)).scalar_one()


async def forget_old_keys(session: AsyncSession, now: datetime) -> None:
    """Idempotency keys older than the vendors' retry windows are let go."""
    await session.exec(delete(IntakeKey).where(col(IntakeKey.received_at) < now - KEY_LIFETIME))
    await session.commit()


async def read(
    source: LeadSource, headers: Mapping[str, str], body: bytes, fill: Fill | None = None
) -> tuple[list[Inbound], str | None]:
    """The leads a delivery describes and its idempotency key; `fill` fetches Meta's fields."""
    content_type = headers.get("content-type", "application/json")
    found = items(source.kind, parse_body(content_type, body))
    if source.kind == "meta" and fill is not None:
        found = await fill(found, source.access_token)
    inbounds = [storable(extract(source.mapping, item.fields)) for item in found]
    return inbounds, _event_key(headers, found)


def _event_key(headers: Mapping[str, str], found: list[Item]) -> str | None:
    """The sender's id for this delivery: a header, else the vendor's event ids."""
    for name in _EVENT_HEADERS:
        if headers.get(name):
            return f"{name}:{headers[name]}"
    ids = [item.event_id for item in found]
    if not ids or not all(ids):
        return None
    return "event:" + ",".join(str(event_id) for event_id in ids)


async def replay(
    session: AsyncSession, *, delivery_id: int, now: datetime, fill: Fill | None = None
) -> Received:
    """Run a rejected delivery through intake again (after its mapping was fixed)."""
    journal = await session.get(WebhookDelivery, delivery_id)
    if journal is None or journal.outcome != "rejected":
        raise NotFound(f"no rejected delivery {delivery_id}", code="delivery_not_found")
    source = await session.get_one(LeadSource, journal.source_id)
    team = await session.get_one(Team, source.team_id)
    # A replay that would be refused again changes nothing: the delivery stays rejected.
    inbounds, _ = await read(source, journal.headers, journal.body, fill)
    people(inbounds, team)
    # Apart from this session, they stay loaded through a rollback in intake (a lost race).
    session.expunge(source)
    session.expunge(team)
    received = await receive(
        session,
        source=source,
        team=team,
        headers=journal.headers,
        body=journal.body,
        now=now,
        fill=fill,
    )
    journal.outcome = "replayed"
    await session.commit()
    return received
