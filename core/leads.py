"""Leads: capture with dedup, the lists a person works from, search, and the card."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, outbox, tags, teams
from core.contacts import clean_name, normalize_email, normalize_phone
from core.db import in_shapes
from core.errors import Forbidden, InvalidInput, NotFound
from core.masking import mask_name, mask_phone
from core.models import (
    OPEN_STATES,
    Activity,
    Attachment,
    AuditEntry,
    Channel,
    Lead,
    LeadState,
    LeadTag,
    Role,
    StageChange,
    Tag,
    Task,
    Team,
    User,
    utcnow,
)
from core.permissions import lead_for, may_edit, may_see, visible_leads
from core.pipelines import preset
from core.races import retry_on_race
from core.scoring import URGENCY, Score, last_intent, rescore, score


@dataclass(frozen=True)
class NewLead:
    name: str
    phone: str | None = None
    email: str | None = None
    source: str = "manual"
    budget: Decimal | None = None
    tags: Sequence[str] = ()
    profile: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None


@dataclass(frozen=True)
class Capture:
    """What entering a lead came to.

    created: a new lead, owned by the actor; yours / visible: it existed and the actor may
    open it; taken: someone else's customer, shown masked.
    """

    outcome: Literal["created", "yours", "visible", "taken"]
    lead_id: int
    lead: Lead | None = None
    masked_name: str = ""
    masked_phone: str = ""
    masked_owner: str = ""


async def capture(
    session: AsyncSession,
    *,
    actor: User,
    entry: NewLead,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Capture:
    """Enter a lead: never a second record for a known phone or email (any format)."""
    return await retry_on_race(
        session,
        lambda: _capture(session, actor=actor, entry=entry, now=now, channel=channel),
        keep=[actor],
    )


async def _capture(
    session: AsyncSession,
    *,
    actor: User,
    entry: NewLead,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Capture:
    team = await _own_team(session, actor)
    name = clean_name(entry.name)
    phone = normalize_phone(entry.phone, team.country) if entry.phone else None
    email = normalize_email(entry.email) if entry.email else None
    if phone is None and email is None:
        raise InvalidInput("give a phone or an email to reach the customer", code="no_contact")
    existing = await find_duplicate(
        session, team_id=team.id, phone_e164=phone.e164 if phone else None, email=email
    )
    if existing is not None:
        return await _known(session, actor, existing, channel)
    lead = Lead(
        team_id=team.id,
        name=name,
        phone_raw=phone.raw if phone else None,
        phone_e164=phone.e164 if phone else None,
        phone_valid=phone.valid if phone else True,
        email=email,
        source=entry.source,
        owner_id=actor.id,
        state=LeadState.OWNED,
        stage=preset(team.preset).first_stage,
        budget=entry.budget,
        budget_currency=team.currency if entry.budget is not None else None,
        profile=dict(entry.profile),
        created_at=now,
        claimed_at=now,
    )
    session.add(lead)
    await session.flush()
    session.add(StageChange(lead_id=lead.id, to_stage=lead.stage, actor_id=actor.id, at=now))
    await tags.attach(session, lead, entry.tags)
    await rescore(session, lead, now)
    if entry.comment:
        session.add(
            Activity(
                lead_id=lead.id,
                actor_id=actor.id,
                channel="note",
                summary=entry.comment,
                created_at=now,
            )
        )
    audit.lead_changed(
        session,
        lead.id,
        "create",
        actor=actor,
        channel=channel,
        after={"name": name, "phone": lead.phone_e164, "email": email},
    )
    await session.commit()
    return Capture("created", lead.id or 0, lead)


def _leads_with(column: Any, values: str) -> Any:
    return select(Lead).where(col(column).in_(sa.bindparam(values, expanding=True)))


#: Built once (every delivery from a web form runs it); an empty list matches nothing. Each
#: contact is looked up in the index of its kind, by contact alone, the team checked after:
#: with `team_id = ?` beside it, PostgreSQL without statistics (a new table, autovacuum not
#: yet run, or off) took the team's part of the (team, phone) index and read every lead of
#: the team; and SQLite, given `phone IN … OR email IN …`, walked the team's index likewise.
#: No ORDER BY, for the same reason. A lead may come back twice (by phone and by email).
_DUPLICATES = select(Lead).from_statement(
    sa.union_all(_leads_with(Lead.phone_e164, "phones"), _leads_with(Lead.email, "emails"))
)
#: PostgreSQL plans `IN (…)` by the table's statistics, and without them (as above) it took
#: a table of under ~5,000 leads for small and read it whole for every intake: 1.8 ms a
#: read by 2,000 leads, growing (the server's statement log). Here each contact is one probe
#: of its index whatever the statistics say (a nested loop over the list); and the list is
#: one array parameter, so the statement is the same for any number of contacts.
_DUPLICATES_PG = select(Lead).from_statement(
    sa.text(
        "SELECT found.* FROM unnest(:contacts) AS wanted(contact) CROSS JOIN LATERAL ("
        "SELECT * FROM leads WHERE leads.phone_e164 = wanted.contact UNION ALL "
        "SELECT * FROM leads WHERE leads.email = wanted.contact) AS found"
    ).bindparams(sa.bindparam("contacts", type_=postgresql.ARRAY(sa.String)))
)


async def find_duplicate(
    session: AsyncSession, *, team_id: int | None, phone_e164: str | None, email: str | None
) -> Lead | None:
    """The team's lead with this phone or email, if there is one."""
    found = await duplicates_of(
        session,
        team_id=team_id,
        phones=[phone_e164] if phone_e164 else [],
        emails=[email] if email else [],
    )
    return first_of(found, phone_e164, email)


async def duplicates_of(
    session: AsyncSession, *, team_id: int | None, phones: list[str], emails: list[str]
) -> list[Lead]:
    """The team's leads with any of these phones or emails.

    Each read looks the same contacts up as phones and as emails (a phone never reads as an
    email). On SQLite, one read per 64 contacts: one list, so a read has one shape per size
    (see `db.in_shapes`); and pieces, since one batch delivery of 1 MiB may name more people
    than a statement takes parameters.
    """
    contacts = [*phones, *emails]
    if session.get_bind().dialect.name == "postgresql":
        reads = [(_DUPLICATES_PG, {"contacts": contacts})] if contacts else []
    else:
        reads = [(_DUPLICATES, {"phones": piece, "emails": piece}) for piece in in_shapes(contacts)]
    found: list[Lead] = []
    for statement, params in reads:
        leads = (await session.exec(statement, params=params)).scalars()
        found += [lead for lead in leads if lead.team_id == team_id]
    return found


def first_of(leads: Iterable[Lead], phone_e164: str | None, email: str | None) -> Lead | None:
    """Of `leads`, the person's: the first made with their phone or their email."""
    mine = [
        lead
        for lead in leads
        if (phone_e164 and lead.phone_e164 == phone_e164) or (email and lead.email == email)
    ]
    return min(mine, key=lambda lead: lead.id or 0, default=None)


async def _known(session: AsyncSession, actor: User, lead: Lead, channel: Channel) -> Capture:
    audit.lead_changed(session, lead.id, "duplicate_attempt", actor=actor, channel=channel)
    await session.commit()
    if may_see(actor, lead):
        outcome = "yours" if lead.owner_id == actor.id else "visible"
        return Capture(outcome, lead.id or 0, lead)
    owner = await session.get(User, lead.owner_id) if lead.owner_id else None
    return Capture(
        "taken",
        lead.id or 0,
        None,
        masked_name=mask_name(lead.name),
        masked_phone=mask_phone(lead.phone_e164),
        masked_owner=mask_name(owner.display_name) if owner else "",
    )


async def ask_for_access(
    session: AsyncSession, *, actor: User, lead_id: int, now: datetime
) -> None:
    """Tell the owner and the managers that `actor` met their customer; once a day at most.

    Only after a recorded duplicate attempt: a forged request for any id does nothing.
    """
    attempt = await session.exec(
        select(AuditEntry.id).where(
            AuditEntry.actor_id == actor.id,
            AuditEntry.entity == "lead",
            AuditEntry.entity_id == lead_id,
            AuditEntry.action == "duplicate_attempt",
        )
    )
    lead = await session.get(Lead, lead_id)
    if attempt.first() is None or lead is None:
        raise NotFound(f"lead {lead_id} not found", code="lead_not_found")
    recipients = {user.id: user for user in await teams.managers(session, lead.team_id)}
    if lead.owner_id is not None:
        recipients[lead.owner_id] = await session.get_one(User, lead.owner_id)
    recipients.pop(actor.id, None)
    params = {"requester": actor.display_name, "lead_id": lead.id, "lead_name": lead.name}
    for user in recipients.values():
        await outbox.enqueue(
            session,
            kind="duplicate_request",
            chat_id=user.telegram_id,
            recipient_id=user.id,
            params=params,
            dedup_key=f"dupask:{lead.id}:{actor.id}:{user.id}:{now:%Y-%m-%d}",
        )
    await session.commit()


@dataclass(frozen=True)
class LeadFilter:
    stage: str | None = None
    tag: str | None = None
    grade: str | None = None
    #: Only leads nobody has touched for at least this many days.
    idle_days: int | None = None
    lost: bool = False


@dataclass(frozen=True)
class Page:
    leads: list[Lead]
    total: int
    page: int
    pages: int


def _priority(now: datetime) -> list[sa.ColumnElement[Any]]:
    """Overdue next actions first, then grade A to C, then the longest waiting."""
    overdue = sa.case((col(Lead.next_action_at) < now, 0), else_=1)
    return [overdue, URGENCY, col(Lead.created_at), col(Lead.id)]


def _worklist(actor: User, filters: LeadFilter, now: datetime) -> sa.Select[Any]:
    # A rep works their own leads (the pool has its own list); others all they may see.
    mine = col(Lead.owner_id) == actor.id if actor.role == Role.REP else visible_leads(actor)
    states = (LeadState.ARCHIVED,) if filters.lost else OPEN_STATES
    query = select(Lead).where(mine, col(Lead.state).in_(states))
    if filters.stage:
        query = query.where(Lead.stage == filters.stage)
    if filters.grade:
        query = query.where(Lead.grade == filters.grade)
    if filters.tag:
        tagged = select(LeadTag.lead_id).join(Tag).where(Tag.name == filters.tag.lower())
        query = query.where(col(Lead.id).in_(tagged))
    if filters.idle_days:
        since = now - timedelta(days=filters.idle_days)
        touched = sa.func.coalesce(col(Lead.last_touch_at), col(Lead.created_at))
        query = query.where(touched < since)
    return query


async def worklist(
    session: AsyncSession,
    *,
    actor: User,
    filters: LeadFilter,
    page: int,
    page_size: int,
    now: datetime,
) -> Page:
    """The actor's open leads (a manager's: the team's), most urgent first, one page."""
    query = _worklist(actor, filters, now)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    pages = max(1, -(-total // page_size))
    page = min(max(page, 0), pages - 1)
    rows = await session.exec(
        query.order_by(*_priority(now)).offset(page * page_size).limit(page_size)
    )
    return Page(list(rows.all()), total, page, pages)


async def find(session: AsyncSession, *, actor: User, text: str, limit: int = 20) -> list[Lead]:
    """Leads the actor may see whose phone has these digits (any format) or name has this part."""
    digits = "".join(char for char in text if char.isdigit())
    if len(digits) >= 4:
        parts = await _phone_parts(session, actor, text, digits)
        condition = sa.or_(*(col(Lead.phone_e164).contains(part) for part in parts))
    else:
        condition = col(Lead.name_folded).contains(text.strip().casefold(), autoescape=True)
    query = (
        select(Lead)
        .where(visible_leads(actor), condition)
        .order_by(col(Lead.state) == LeadState.ARCHIVED, col(Lead.created_at).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def _phone_parts(session: AsyncSession, actor: User, text: str, digits: str) -> list[str]:
    """The digits as typed and, if they make a whole number, its E.164 ones (`8 912…` → `7912…`)."""
    parts = [digits]
    team = await session.get(Team, actor.team_id) if actor.team_id is not None else None
    try:
        phone = normalize_phone(text, team.country if team else "ZZ")
    except InvalidInput:
        return parts
    whole = phone.e164.lstrip("+")
    return [*parts, whole] if phone.valid and whole != digits else parts


async def phone_to_call(session: AsyncSession, *, actor: User, lead_id: int) -> str | None:
    """The number of a lead the actor works; none while it waits in the pool or an offer."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if lead.state in (LeadState.POOL, LeadState.OFFERED):
        return None
    return lead.phone_e164


@dataclass(frozen=True)
class Card:
    """Everything the lead card shows."""

    lead: Lead
    team: Team
    owner: User | None
    tags: list[str]
    stages: tuple[str, ...]
    last_activity: Activity | None
    next_task: Task | None
    attachments: int
    score: Score
    editable: bool
    #: The actor may take the lead now (from the pool, or an offer open to them).
    claimable: bool


async def card(session: AsyncSession, *, actor: User, lead_id: int) -> Card:
    lead = await lead_for(session, actor, lead_id)
    team = await session.get_one(Team, lead.team_id)
    last = await session.exec(
        select(Activity)
        .where(Activity.lead_id == lead.id)
        .order_by(col(Activity.created_at).desc())
    )
    task = await session.exec(
        select(Task)
        .where(Task.lead_id == lead.id, col(Task.done_at).is_(None))
        .order_by(col(Task.due_at))
    )
    attachments = await session.exec(
        select(func.count()).select_from(Attachment).where(Attachment.lead_id == lead.id)
    )
    return Card(
        lead=lead,
        team=team,
        owner=await session.get(User, lead.owner_id) if lead.owner_id else None,
        tags=await tags.of_lead(session, lead.id or 0),
        stages=preset(team.preset).stages,
        last_activity=last.first(),
        next_task=task.first(),
        attachments=attachments.one(),
        score=score(lead, team, last_intent=await last_intent(session, lead.id or 0), now=utcnow()),
        editable=may_edit(actor, lead) and lead.state not in (LeadState.POOL, LeadState.OFFERED),
        claimable=_claimable(actor, lead),
    )


def _claimable(actor: User, lead: Lead) -> bool:
    if actor.team_id != lead.team_id or actor.role not in (Role.REP, Role.MANAGER):
        return False
    offered_to_them = lead.state == LeadState.OFFERED and lead.owner_id in (None, actor.id)
    return lead.state == LeadState.POOL or offered_to_them


def ensure_may_capture(actor: User) -> None:
    """Refuse before any question is asked when the actor does not enter leads at all."""
    if actor.role == Role.FINANCE or actor.team_id is None:
        raise Forbidden("only reps and managers of a team enter leads", code="cannot_create")


async def _own_team(session: AsyncSession, actor: User) -> Team:
    ensure_may_capture(actor)
    return await session.get_one(Team, actor.team_id)
