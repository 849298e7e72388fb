"""Lead intake: a verified delivery becomes leads (or activities on known ones), journalled.

The raw delivery, the leads it creates and their offers commit in ONE transaction: either
all of it is kept or none, so nothing received is ever lost or half-done. Redeliveries are
recognised by the vendor's event id (or a content hash) for 72 hours and create nothing new;
a batch whose items carry their own ids (Meta's leadgen ids) is recognised item by item.

Deliveries that arrive together may be written together (`receive_all`): one transaction and
a few set-based statements for all of them, as if they had come one after the other. Under
load that is most of the saving: a statement costs more CPU to issue than to run.
"""

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import outbox, sources, tags, teams
from core.db import Rows, in_shapes, insert_returning, insert_together
from core.errors import InvalidInput, NotFound
from core.intake_items import Person, display_name, fitted, people, storable, storable_text
from core.leads import duplicates_of
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
from core.models.leads import unsaved_lead
from core.payloads import parse_body
from core.pipelines import preset
from core.races import retry_on_race
from core.routing import ToRoute, route_all
from core.scoring import score

#: Vendors retry for up to 36 hours (Meta); keys are kept twice as long.
KEY_LIFETIME = timedelta(hours=72)
#: Headers that carry a source's secret itself (a bearer key, Tilda's API key): the journal
#: keeps them as "***", so that reading it reveals no key (a replay checks no signature).
_SECRET_HEADERS = frozenset({"authorization", *sources.KEY_HEADERS})
#: Headers in which senders name a delivery, before the vendors' own event ids.
_EVENT_HEADERS = ("webhook-id", "idempotency-key")

# Core INSERTs for the rows every delivery writes: the ORM's unit of work cost more per
# row than the rest of the work on it.
_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
_STAGE_CHANGES = StageChange.__table__  # type: ignore[attr-defined]
_KEYS = IntakeKey.__table__  # type: ignore[attr-defined]

#: The longest key both key columns hold (intake_keys.key, the journal's idempotency_key).
_KEY_CHARS = min(
    _KEYS.c.key.type.length,
    _DELIVERIES.c.idempotency_key.type.length,
)

#: The database failed or could not be reached (asyncpg reports an unreachable server as a
#: plain OSError): nothing of the transaction was kept.
NOT_STORED = (SQLAlchemyError, OSError)
#: The database itself failing (not reached, locked too long, connection lost): writing the
#: deliveries one by one would only wait for it once per delivery.
UNREACHABLE = (OperationalError, InterfaceError, OSError)

Fill = Callable[[list[Item], str | None], Awaitable[list[Item]]]


@dataclass(frozen=True)
class Delivery:
    """What arrived over HTTP, as received."""

    headers: Mapping[str, str]
    body: bytes
    #: The vendor's event id or Idempotency-Key; None means "hash the body".
    key: str | None
    #: Each item's own event id, when every item has one and no header names the delivery:
    #: each item is then remembered on its own, for Meta may regroup leadgen ids as it retries.
    item_keys: tuple[str, ...] = ()


@dataclass
class _Written:
    """Rows a group adds that nothing reads before it commits: they go in last, together
    (`core.db.insert_together`)."""

    pushes: list[outbox.Message] = field(default_factory=list)
    stages: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Received:
    outcome: str  # accepted or duplicate
    lead_ids: list[int]


@dataclass(frozen=True)
class Pending:
    """A verified delivery, read: its people, or why it can make no lead (then journalled as
    rejected, and the error raised to the sender)."""

    source: LeadSource
    team: Team
    delivery: Delivery
    found: list[Person] = field(default_factory=list)
    #: Which items of a batch were skipped and why (None: none was).
    skipped: str | None = None
    error: Exception | None = None
    #: Whether the body could be read (so the delivery has an idempotency key): one that was
    #: read but makes no lead is still a redelivery, answered "duplicate", if its key is known.
    read: bool = True


class SourceChanged(Exception):
    """The delivery was read with its source (or team) as it was before a change: read it
    again with the source as it is now. Nothing of it was kept."""


#: What became of a pending delivery: received, or the error its sender is to be told.
Outcome = Received | Exception


def idempotency_key(delivery: Delivery) -> str:
    """The delivery's key as stored: the sender's, else a hash of the body."""
    if delivery.key is None:
        return "sha256:" + hashlib.sha256(delivery.body).hexdigest()
    return _storable_key(delivery.key)


def _storable_key(key: str) -> str:
    """The key if the columns can hold it, else a hash of all of it.

    Never cut short: two keys alike in their first 200 characters are still two deliveries.
    """
    if len(key) <= _KEY_CHARS and storable_text(key) == key:
        return key
    return "key-sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _item_keys(delivery: Delivery) -> list[str]:
    """Each item's key as stored (none: the delivery is remembered as a whole)."""
    return [_storable_key(key) for key in delivery.item_keys]


def _keys_of(pending: Pending) -> list[tuple[str, list[Person]]]:
    """What a delivery that makes leads is remembered by: its key, for all its people, or each
    item's key, for the item's person. A refused one keeps none: it may come again, fixed."""
    if pending.error is not None:
        return []
    item_keys = _item_keys(pending.delivery)
    if item_keys:
        return [(item_keys[person.item], [person]) for person in pending.found]
    return [(idempotency_key(pending.delivery), pending.found)]


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
    delivery) then leaves them loaded. `fill` fetches what the payload only points to
    (Meta's lead fields); it may raise, and then the delivery is journalled as rejected too.
    """
    return await _receive_one(session, await prepare(source, team, headers, body, fill), now)


async def _receive_one(session: AsyncSession, pending: Pending, now: datetime) -> Received:
    (outcome,) = await receive_all(session, [pending], now)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def prepare(
    source: LeadSource,
    team: Team,
    headers: Mapping[str, str],
    body: bytes,
    fill: Fill | None = None,
) -> Pending:
    """Read a verified delivery, before anything is written: its people, or why none."""
    try:
        inbounds, delivery = await read(source, headers, body, fill)
    except Exception as error:
        return Pending(source, team, Delivery(headers, body, None), error=error, read=False)
    try:
        found, skipped = people(inbounds, team)
    except InvalidInput as error:
        return Pending(source, team, delivery, error=error)
    return Pending(source, team, delivery, found, skipped)


async def receive_all(
    session: AsyncSession, pendings: Sequence[Pending], now: datetime
) -> list[Outcome]:
    """Keep deliveries that arrived together, in one transaction: journal, keys, leads.

    Written as if one after the other (a person in two of them is one lead), set-based. Two
    writers creating a lead for one new person meet at the database's unique index: the
    loser starts over and finds the winner's lead. Should the group fail for what one of its
    deliveries holds, each is written alone, so that one that cannot be stored costs only
    itself; the database itself away (`UNREACHABLE`) fails them all at once. A delivery
    read with its source as it was before a change is kept out (`SourceChanged`).
    """
    changed = await sources.changed(
        session, [(pending.source, pending.team) for pending in pendings]
    )
    if not any(changed):
        return await _receive_current(session, pendings, now)
    current = [pending for pending, stale in zip(pendings, changed, strict=True) if not stale]
    outcomes = iter(await _receive_current(session, current, now) if current else [])
    return [
        SourceChanged(pending.source.name) if stale else next(outcomes)
        for pending, stale in zip(pendings, changed, strict=True)
    ]


async def _receive_current(
    session: AsyncSession, pendings: Sequence[Pending], now: datetime
) -> list[Outcome]:
    try:
        return await _write_retrying(session, pendings, now)
    except UNREACHABLE:
        raise
    except Exception:
        await session.rollback()
        if len(pendings) == 1:
            raise
    outcomes: list[Outcome] = []
    for pending in pendings:
        try:
            outcomes += await _write_retrying(session, [pending], now)
        except UNREACHABLE:
            raise
        except Exception as error:
            await session.rollback()
            outcomes.append(error)
    return outcomes


async def _write_retrying(
    session: AsyncSession, pendings: Sequence[Pending], now: datetime
) -> list[Outcome]:
    return await retry_on_race(session, lambda: _write(session, pendings, now))


async def _write(
    session: AsyncSession, pendings: Sequence[Pending], now: datetime
) -> list[Outcome]:
    kept = [_keys_of(pending) for pending in pendings]
    wanted = [
        (pending.source.id, key)
        for pending, keys in zip(pendings, kept, strict=True)
        for key, _ in keys
    ]
    fresh = iter(await _remember(session, wanted, now))
    # The people whose key is new: a redelivered delivery (or item) makes nothing again.
    taken = [[person for _, persons in keys if next(fresh) for person in persons] for keys in kept]
    written = _Written()
    lead_ids = await _take_all(session, list(zip(pendings, taken, strict=True)), now, written)
    rows, outcomes = [], list[Outcome]()
    for pending, persons, ids in zip(pendings, taken, lead_ids, strict=True):
        key = idempotency_key(pending.delivery) if pending.read else None
        if persons:
            rows.append(_journal_row(pending, key, "accepted", now, ids[0], pending.skipped))
            outcomes.append(Received("accepted", ids))
        elif pending.error is None or await _is_known(session, pending):
            rows.append(_journal_row(pending, key, "duplicate", now))
            outcomes.append(Received("duplicate", []))
        else:
            rows.append(_journal_row(pending, None, "rejected", now, error=str(pending.error)))
            outcomes.append(pending.error)
    await insert_together(
        session,
        [
            outbox.queued(session, written.pushes),
            Rows(_STAGE_CHANGES, written.stages),
            Rows(_DELIVERIES, rows),
        ],
    )
    await session.commit()
    return outcomes


async def _is_known(session: AsyncSession, pending: Pending) -> bool:
    """Whether a refused delivery's keys are all known: a redelivery of one that made leads
    before (since when, say, the mapping changed) is a duplicate, not a refusal."""
    if not pending.read:
        return False
    keys = _item_keys(pending.delivery) or [idempotency_key(pending.delivery)]
    known: set[str] = set()
    for piece in in_shapes(sorted(set(keys))):  # a batch may hold a thousand items
        params = {"source_id": pending.source.id, "keys": piece}
        known.update((await session.exec(_KNOWN_KEYS, params=params)).all())
    return known.issuperset(keys)


async def _remember(
    session: AsyncSession, keys: Sequence[tuple[int | None, str]], now: datetime
) -> list[bool]:
    """Store the keys (source, key); for each, whether it is new (False: a redelivery)."""
    wanted = {
        (source_id, key): {"source_id": source_id, "key": key, "received_at": now}
        for source_id, key in keys
    }
    new = Rows(_KEYS, list(wanted.values()), unique=("source_id", "key"))
    added = await insert_returning(session, new, (_KEYS.c.source_id, _KEYS.c.key))
    stored = {(row.source_id, row.key) for row in added}
    fresh = []
    for key in keys:
        fresh.append(key in stored)
        stored.discard(key)  # a key twice in the group: once new
    return fresh


_KNOWN_KEYS = select(IntakeKey.key).where(
    IntakeKey.source_id == sa.bindparam("source_id"),
    col(IntakeKey.key).in_(sa.bindparam("keys", expanding=True)),
)


def _journal_row(
    pending: Pending,
    key: str | None,
    outcome: str,
    now: datetime,
    lead_id: int | None = None,
    error: str | None = None,
) -> dict[str, object]:
    """The delivery as received, for the journal (secret headers as "***")."""
    return {
        "source_id": pending.source.id,
        "received_at": now,
        "headers": {
            name: "***" if name in _SECRET_HEADERS else value
            for name, value in pending.delivery.headers.items()
        },
        "body": pending.delivery.body,
        "idempotency_key": key,
        "outcome": outcome,
        "error": error,
        "lead_id": lead_id,
    }


async def _take_all(
    session: AsyncSession,
    taken_people: Sequence[tuple[Pending, list[Person]]],
    now: datetime,
    written: _Written,
) -> list[list[int]]:
    """The people to take of each delivery as leads, in order: a new person's lead is created
    and routed, a known one's comes back. Each delivery's lead ids."""
    known = await _Known.read(session, taken_people)
    created: list[tuple[Lead, Pending, Person]] = []
    returning: list[tuple[Lead, Pending, Inbound]] = []
    taken: list[list[Lead]] = []
    for pending, persons in taken_people:
        leads = []
        for person in persons:
            lead = known.find(pending.team.id, person)
            if lead is None:
                lead = _new_lead(pending, person, now)
                known.add(lead)
                created.append((lead, pending, person))
            else:
                lead.last_touch_at = now  # before a lead new in this group is written
                returning.append((lead, pending, person.inbound))
            leads.append(lead)
        taken.append(leads)
    await _create(session, created, now, written)
    for number, (lead, pending, inbound) in enumerate(returning):
        written.pushes += await _came_back(session, lead, pending.source, inbound, now, number)
    return [[lead.id or 0 for lead in leads] for leads in taken]


#: How a lead is found by a person: (kind, team, contact).
_Contact = tuple[str, int | None, str]


def _contacts(team_id: int | None, phone: str | None, email: str | None) -> list[_Contact]:
    contacts = []
    if phone:
        contacts.append(("phone", team_id, phone))
    if email:
        contacts.append(("email", team_id, email))
    return contacts


class _Known:
    """The leads the people of a group may have already, by team and phone or email: stored
    (the first made wins, as in `leads.first_of`), else new in the group (the first added)."""

    def __init__(self, stored: list[Lead]) -> None:
        self._stored: dict[_Contact, tuple[int, Lead]] = {}
        self._new: dict[_Contact, tuple[int, Lead]] = {}
        for lead in stored:
            for contact in _contacts(lead.team_id, lead.phone_e164, lead.email):
                found = self._stored.get(contact)
                if found is None or (lead.id or 0) < found[0]:
                    self._stored[contact] = (lead.id or 0, lead)

    @classmethod
    async def read(
        cls, session: AsyncSession, taken_people: Sequence[tuple[Pending, list[Person]]]
    ) -> "_Known":
        """One read per team for all the phones and emails of the group."""
        by_team: dict[int | None, list[Person]] = {}
        for pending, persons in taken_people:
            by_team.setdefault(pending.team.id, []).extend(persons)
        stored = []
        for team_id, persons in by_team.items():
            stored += await duplicates_of(
                session,
                team_id=team_id,
                phones=[person.phone.e164 for person in persons if person.phone],
                emails=[person.email for person in persons if person.email],
            )
        return cls(stored)

    def add(self, lead: Lead) -> None:
        for contact in _contacts(lead.team_id, lead.phone_e164, lead.email):
            self._new.setdefault(contact, (len(self._new), lead))

    def find(self, team_id: int | None, person: Person) -> Lead | None:
        """The person's lead in the team, if they have one."""
        contacts = _contacts(team_id, person.phone.e164 if person.phone else None, person.email)
        for known in (self._stored, self._new):
            found = [known[contact] for contact in contacts if contact in known]
            if found:
                return min(found, key=lambda pair: pair[0])[1]
        return None


def _new_lead(pending: Pending, person: Person, now: datetime) -> Lead:
    """A new person's lead, scored, not yet routed nor written."""
    source, team, inbound, phone = pending.source, pending.team, person.inbound, person.phone
    lead = unsaved_lead(
        team_id=team.id or 0,
        phone_e164=phone.e164 if phone else None,
        phone_valid=phone.valid if phone else True,
        email=person.email,
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
    return lead


async def _create(
    session: AsyncSession,
    created: Sequence[tuple[Lead, Pending, Person]],
    now: datetime,
    written: _Written,
) -> None:
    """Write new leads routed (per team, set-based), with their first stage, the form's
    comment and the source's tags."""
    by_team: dict[int | None, tuple[Team, list[ToRoute]]] = {}
    for lead, pending, person in created:
        _, leads = by_team.setdefault(pending.team.id, (pending.team, []))
        # A rule may match on the source's tags; the offer shows the phone as parsed here.
        leads.append(ToRoute(lead, pending.source.tags, person.phone))
    for team, leads in by_team.values():
        await route_all(session, leads, team=team, now=now, pushes=written.pushes)
    written.stages += [
        {"lead_id": lead.id, "to_stage": lead.stage, "at": now} for lead, _, _ in created
    ]
    for lead, pending, person in created:
        if person.inbound.comment:
            session.add(
                Activity(
                    lead_id=lead.id or 0,
                    channel="form",
                    summary=person.inbound.comment[:4000],
                    created_at=now,
                )
            )
        if pending.source.tags:
            await tags.attach(session, lead, pending.source.tags)


def _score_new(lead: Lead, team: Team, now: datetime) -> None:
    """Score a lead before its first INSERT (saving an UPDATE).

    A new lead has no activity with an intent yet (the form's comment carries none), so
    there is no last intent to look up: the same result as `scoring.rescore`, without a query.
    """
    result = score(lead, team, last_intent=None, now=now)
    lead.score, lead.grade = result.points, result.grade


async def _came_back(
    session: AsyncSession,
    lead: Lead,
    source: LeadSource,
    inbound: Inbound,
    now: datetime,
    number: int,
) -> list[outbox.Message]:
    """A known person asked again: an activity on their lead, and a word to its owner (to the
    team's managers when nobody owns it: a pooled lead asked for again is worth a look), to
    be queued. `number` tells apart the comebacks of one group, written at the same `now`."""
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
    if lead.owner_id is not None:
        told = [await session.get_one(User, lead.owner_id)]
    else:
        told = await teams.managers(session, lead.team_id)
    return [
        outbox.Message(
            kind="lead_returned",
            chat_id=person.telegram_id,
            recipient_id=person.id,
            params={"lead_id": lead.id, "lead_name": lead.name, "source": source.name},
            dedup_key=f"returned:{lead.id}:{person.id}:{now.isoformat()}:{number}",
        )
        for person in told
    ]


async def forget_old_keys(session: AsyncSession, now: datetime) -> None:
    """Idempotency keys older than the vendors' retry windows are let go."""
    await session.exec(delete(IntakeKey).where(col(IntakeKey.received_at) < now - KEY_LIFETIME))
    await session.commit()


async def read(
    source: LeadSource, headers: Mapping[str, str], body: bytes, fill: Fill | None = None
) -> tuple[list[Inbound], Delivery]:
    """The leads a delivery describes, and the delivery with its idempotency keys; `fill`
    fetches Meta's fields."""
    content_type = headers.get("content-type", "application/json")
    found = items(source.kind, parse_body(content_type, body))
    if source.kind == "meta" and fill is not None:
        found = await fill(found, source.access_token)
    inbounds = [storable(extract(source.mapping, item.fields)) for item in found]
    return inbounds, _keyed(headers, body, found)


def _keyed(headers: Mapping[str, str], body: bytes, found: list[Item]) -> Delivery:
    """The delivery with the sender's id for it: a header, else its items' event ids."""
    for name in _EVENT_HEADERS:
        if headers.get(name):
            return Delivery(headers, body, f"{name}:{headers[name]}")
    ids = [item.event_id for item in found]
    if not ids or not all(ids):
        return Delivery(headers, body, None)
    keys = tuple(f"event:{event_id}" for event_id in ids)
    return Delivery(headers, body, "event:" + ",".join(str(event_id) for event_id in ids), keys)


async def replay(
    session: AsyncSession, *, delivery_id: int, now: datetime, fill: Fill | None = None
) -> Received:
    """Run a rejected delivery through intake again (after its mapping was fixed)."""
    journal = await session.get(WebhookDelivery, delivery_id)
    if journal is None or journal.outcome != "rejected":
        raise NotFound(f"no rejected delivery {delivery_id}", code="delivery_not_found")
    source = await session.get_one(LeadSource, journal.source_id)
    team = await session.get_one(Team, source.team_id)
    # Apart from this session, they stay loaded through a rollback in intake (a lost race).
    session.expunge(source)
    session.expunge(team)
    pending = await prepare(source, team, journal.headers, journal.body, fill)
    if pending.error is not None:
        # A replay that would be refused again changes nothing: the delivery stays rejected.
        raise pending.error
    received = await _receive_one(session, pending, now)
    journal.outcome = "replayed"
    await session.commit()
    return received
