"""Follow-ups: logging a touch with the customer, the tasks it plans, and the day's agenda."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.errors import InvalidInput, NotFound
from core.models import Activity, Channel, Lead, LeadState, Task, Team, User
from core.permissions import lead_for, visible_leads
from core.scoring import URGENCY, rescore

CHANNELS = ("call", "visit", "chat", "meeting")
INTENTS = ("up", "same", "down")
#: Quick due choices offered as buttons; "tomorrow" and days ahead land at this local hour.
QUICK_DUES = ("1h", "tomorrow", "3d")
WORKDAY_START = time(10, 0)
#: Longest task title kept.
TITLE_CHARS = 500


def timezone_of(user: User, team: Team | None, default: str = "UTC") -> ZoneInfo:
    return ZoneInfo(user.timezone or (team.timezone if team else None) or default)


def due_at(choice: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """A quick choice (`1h`, `tomorrow`, `3d`) or a typed date (`2026-12-01`, `01.12 15:30`)."""
    local = now.astimezone(zone)
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "tomorrow":
        return _at(local.date() + timedelta(days=1), WORKDAY_START, zone)
    if choice == "3d":
        return _at(local.date() + timedelta(days=3), WORKDAY_START, zone)
    return _typed(choice, local, zone)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


_DATE = re.compile(
    r"^(?:(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?)"
    r"(?:\s+(\d{1,2}):(\d{2}))?$"
)


def _typed(text: str, local: datetime, zone: ZoneInfo) -> datetime:
    match = _DATE.match(text.strip())
    if not match:
        raise InvalidInput(f"{text!r} is not a date such as 2026-12-01 or 01.12 15:30", code="due")
    y1, m1, d1, d2, m2, y2, hour, minute = match.groups()
    try:
        day = date(int(y1 or y2 or local.year), int(m1 or m2), int(d1 or d2))
        clock = time(int(hour), int(minute)) if hour else WORKDAY_START
    except ValueError:
        raise InvalidInput(f"{text!r} is not a real date", code="due") from None
    if not (y1 or y2) and day < local.date():
        day = day.replace(year=day.year + 1)  # "01.02" in December means next February
    moment = _at(day, clock, zone)
    if moment <= local:
        raise InvalidInput("the due time must be in the future", code="due_past")
    return moment


async def log_followup(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    channel: str,
    summary: str,
    intent: str | None,
    next_step: str | None,
    due: datetime | None,
    now: datetime,
) -> Activity:
    """Record a touch; a next step with a due time becomes a task and the next action."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    if channel not in CHANNELS or (intent is not None and intent not in INTENTS):
        raise InvalidInput("unknown channel or intent", code="followup_invalid")
    activity = Activity(
        lead_id=lead.id or 0,
        actor_id=actor.id,
        channel=channel,
        summary=summary.strip()[:4000],
        intent=intent,
        next_step=next_step,
        created_at=now,
    )
    session.add(activity)
    lead.last_touch_at = now
    if next_step and due:
        await _add_task(session, lead, actor, task_title(next_step), due, now)
    audit.lead_changed(
        session,
        lead.id,
        "followup",
        actor=actor,
        channel=Channel.BOT,
        after={"channel": channel, "intent": intent},
    )
    await session.flush()
    await rescore(session, lead, now)
    await session.commit()
    return activity


async def schedule_task(
    session: AsyncSession, *, actor: User, lead_id: int, title: str, due: datetime, now: datetime
) -> Task:
    lead = await lead_for(session, actor, lead_id, edit=True)
    task = await _add_task(session, lead, actor, task_title(title), due, now)
    await session.commit()
    return task


def task_title(text: str) -> str:
    """A task's title (or a follow-up's next step) as typed: trimmed, refused when empty."""
    title = text.strip()[:TITLE_CHARS]
    if not title:
        raise InvalidInput("a task needs a title", code="task_title")
    return title


async def _add_task(
    session: AsyncSession, lead: Lead, actor: User, title: str, due: datetime, now: datetime
) -> Task:
    """A task for the lead's owner; the lead's next action follows its earliest open task."""
    task = Task(
        lead_id=lead.id or 0,
        assignee_id=lead.owner_id or actor.id,
        title=title,
        due_at=due,
        created_at=now,
    )
    session.add(task)
    await session.flush()
    await _refresh_next_action(session, lead)
    return task


async def complete_task(session: AsyncSession, *, actor: User, task_id: int, now: datetime) -> Task:
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    lead = await lead_for(session, actor, task.lead_id, edit=True)
    task.done_at = now
    lead.last_touch_at = now
    await session.flush()
    await _refresh_next_action(session, lead)
    await session.commit()
    return task


async def hand_over_tasks(
    session: AsyncSession, lead: Lead, *, to: User | None, only_unassigned: bool = False
) -> None:
    """The lead's open tasks follow it to its new owner (or wait unassigned in the pool)."""
    query = select(Task).where(Task.lead_id == lead.id, col(Task.done_at).is_(None))
    if only_unassigned:
        query = query.where(col(Task.assignee_id).is_(None))
    for task in await session.exec(query):
        task.assignee_id = to.id if to else None


async def _refresh_next_action(session: AsyncSession, lead: Lead) -> None:
    """The lead's next action is its earliest open task."""
    earliest = await session.exec(
        select(func.min(Task.due_at)).where(Task.lead_id == lead.id, col(Task.done_at).is_(None))
    )
    lead.next_action_at = earliest.one()


@dataclass(frozen=True)
class Agenda:
    overdue: list[tuple[Task, Lead]]
    today: list[tuple[Task, Lead]]
    offered: list[Lead]


async def agenda(session: AsyncSession, *, actor: User, now: datetime, zone: ZoneInfo) -> Agenda:
    """The actor's day: overdue tasks, the rest of today's, leads waiting for their claim.

    Overdue tasks come by their lead's grade (the most promising customer first), then by how
    long they are overdue; the rest of the day in time order.
    """
    end_of_day = _at(now.astimezone(zone).date() + timedelta(days=1), time(0), zone)
    overdue = col(Task.due_at) < now
    tasks = await session.exec(
        select(Task, Lead)
        .join(Lead)
        .where(
            Task.assignee_id == actor.id,
            col(Task.done_at).is_(None),
            col(Task.due_at) < end_of_day,
            visible_leads(actor),
            col(Lead.state) != LeadState.ARCHIVED,
        )
        .order_by(
            sa.case((overdue, 0), else_=1), sa.case((overdue, URGENCY), else_=0), col(Task.due_at)
        )
    )
    rows = list(tasks.all())
    offered = await session.exec(
        select(Lead)
        .where(Lead.owner_id == actor.id, Lead.state == LeadState.OFFERED)
        .order_by(col(Lead.claim_deadline))
    )
    return Agenda(
        overdue=[(task, lead) for task, lead in rows if task.due_at < now],
        today=[(task, lead) for task, lead in rows if task.due_at >= now],
        offered=list(offered.all()),
    )
