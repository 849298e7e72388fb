"""Lead scoring: points per factor, grades, team weights, and the score kept on the lead."""

from datetime import timedelta
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from core import followups, leads, teams
from core.leads import NewLead
from core.models import Lead, Team, utcnow
from core.scoring import score
from tests import factories


def _lead(**fields: object) -> Lead:
    now = utcnow()
    return Lead(team_id=1, name="X", stage="first_contact", created_at=now, **fields)


def test_points_grade_and_reasons() -> None:
    team = Team(name="T", country="US", preset="home-renovation")
    now = utcnow()
    rich = _lead(
        source="referral",
        budget=Decimal(5000),
        last_touch_at=now,
        profile={"house_type": "villa", "area": "120", "style": "loft"},
    )
    result = score(rich, team, last_intent="up", now=now)
    assert result.reasons == [
        ("source", 20),
        ("budget", 25),
        ("profile", 20),
        ("recent", 15),
        ("intent", 20),
    ]
    assert (result.points, result.grade) == (100, "A")
    thin = _lead(source="meta", last_touch_at=now - timedelta(days=9))
    poor = score(thin, team, last_intent="down", now=now)
    assert (poor.points, poor.grade, poor.reasons) == (8, "C", [("source", 8)])
    middle = _lead(source="tilda", budget=Decimal(1), last_touch_at=now)
    assert score(middle, team, last_intent=None, now=now).grade == "B"


def test_team_weights_change_the_score() -> None:
    team = Team(name="T", country="US", score_weights={"budget": 50})
    now = utcnow()
    lead = _lead(source="manual", budget=Decimal(10), last_touch_at=now - timedelta(days=10))
    assert score(lead, team, last_intent=None, now=now).reasons == [("source", 12), ("budget", 50)]


async def test_the_score_follows_the_lead(session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    await teams.update_team(session, name="Alpha", values={"score_weights": "intent=40"})
    rep = await factories.user(session, team)
    now = utcnow()
    made = await leads.capture(
        session, actor=rep, now=now, entry=NewLead("Anna", "+14155552671", source="referral")
    )
    lead = await session.get_one(Lead, made.lead_id)
    assert (lead.score, lead.grade) == (35, "B")  # referral 20 + touched recently 15
    await followups.log_followup(
        session,
        actor=rep,
        lead_id=lead.id,
        channel="call",
        summary="keen",
        intent="up",
        next_step=None,
        due=None,
        now=now,
    )
    assert (lead.score, lead.grade) == (75, "A")  # + interest rising, weighted 40 here
    card = await leads.card(session, actor=rep, lead_id=lead.id)
    assert card.score.reasons == [("source", 20), ("recent", 15), ("intent", 40)]
