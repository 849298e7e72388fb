"""Lead scoring: a transparent, rule-based score and its grade, with the reasons shown.

Each factor gives at most its weight in points (team settings may change the weights):
how good the source usually is, whether a budget is known, how complete the profile is, how
recently someone touched the lead, and which way the customer's interest last moved.
The sum maps to a grade: A from 60 points, B from 35, else C.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Activity, Lead, LeadState, Team
from core.pipelines import preset

DEFAULT_WEIGHTS = {"source": 20, "budget": 25, "profile": 20, "recent": 15, "intent": 20}
#: How well leads of a source usually convert, as a share of the source weight.
SOURCE_QUALITY = {"referral": 1.0, "walk-in": 1.0, "call": 0.8, "manual": 0.6, "meta": 0.4}
DEFAULT_SOURCE_QUALITY = 0.5
INTENT_SHARE = {"up": 1.0, "same": 0.5, "down": 0.0}
RECENT = timedelta(days=3)
GRADES = ((60, "A"), (35, "B"), (0, "C"))
#: How urgent a lead is by its grade, as SQL to order by: A first, a lead not graded last.
#: Lists and overdue reminders put the most promising leads first.
URGENCY = sa.case(
    (col(Lead.grade) == "A", 0),
    (col(Lead.grade) == "B", 1),
    (col(Lead.grade) == "C", 2),
    else_=3,
)


@dataclass(frozen=True)
class Score:
    points: int
    grade: str
    #: (factor, points) for every factor that gave points: the "why" on the lead card.
    reasons: list[tuple[str, int]]


def weights_of(team: Team) -> dict[str, int]:
    custom = {
        key: int(value) for key, value in team.score_weights.items() if key in DEFAULT_WEIGHTS
    }
    return {**DEFAULT_WEIGHTS, **custom}


def score(lead: Lead, team: Team, *, last_intent: str | None, now: datetime) -> Score:
    weights = weights_of(team)
    # The budget has a factor of its own; the profile counts the other attributes.
    fields = [field for field in preset(team.preset).profile_fields if field != "budget"]
    filled = sum(1 for field in fields if lead.profile.get(field) not in (None, ""))
    touched = lead.last_touch_at or lead.created_at
    shares: dict[str, float] = {
        "source": SOURCE_QUALITY.get(lead.source or "", DEFAULT_SOURCE_QUALITY),
        "budget": 1.0 if lead.budget is not None else 0.0,
        "profile": filled / len(fields) if fields else 0.0,
        "recent": 1.0 if now - touched <= RECENT else 0.0,
        "intent": INTENT_SHARE.get(last_intent or "", 0.0),
    }
    reasons = [(factor, round(weights[factor] * share)) for factor, share in shares.items()]
    reasons = [(factor, points) for factor, points in reasons if points > 0]
    points = sum(points for _, points in reasons)
    grade = next(letter for threshold, letter in GRADES if points >= threshold)
    return Score(points, grade, reasons)


async def last_intent(session: AsyncSession, lead_id: int) -> str | None:
    rows = await session.exec(
        select(Activity.intent)
        .where(Activity.lead_id == lead_id, col(Activity.intent).is_not(None))
        .order_by(col(Activity.created_at).desc())
        .limit(1)
    )
    return rows.first()


async def rescore(session: AsyncSession, lead: Lead, now: datetime) -> Score:
    """Store the lead's score and grade as they stand now (the caller commits)."""
    team = await session.get_one(Team, lead.team_id)
    result = score(lead, team, last_intent=await last_intent(session, lead.id or 0), now=now)
    lead.score, lead.grade = result.points, result.grade
    return result


async def rescore_open_leads(session: AsyncSession, now: datetime) -> None:
    """Scores drift as leads age (the "recent" factor): refresh every open lead's."""
    leads = await session.exec(
        select(Lead).where(col(Lead.state).in_((LeadState.OWNED, LeadState.OFFERED)))
    )
    for lead in leads:
        await rescore(session, lead, now)
    await session.commit()
