"""Managing a team's assignment rules (`leadloop route …`)."""

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.errors import InvalidInput, NotFound
from core.models import Channel, RoutingRule, User
from core.routing import STRATEGIES
from core.teams import get_team
from core.users import require_by_telegram_id

MATCH_FIELDS = ("source", "region", "tag")


def parse_match(text: str | None) -> tuple[str | None, str | None]:
    """`source=tilda`, `region=north`, `tag=vip`, `profile.rooms=3`, or nothing (every lead)."""
    if not text:
        return None, None
    field, _, value = text.partition("=")
    field, value = field.strip(), value.strip()
    if not value or not (field in MATCH_FIELDS or field.startswith("profile.")):
        raise InvalidInput(f"{text!r}: match source=X, region=Y, tag=Z or profile.KEY=V")
    return field, value


async def add_rule(
    session: AsyncSession,
    *,
    team_name: str,
    match: str | None,
    strategy: str,
    user_telegram_id: int | None,
) -> RoutingRule:
    """Append a rule: it is tried after the team's existing ones."""
    team = await get_team(session, team_name)
    if strategy not in STRATEGIES:
        raise InvalidInput(f"{strategy!r} is not one of {', '.join(STRATEGIES)}")
    user: User | None = None
    if strategy == "to-user":
        if user_telegram_id is None:
            raise InvalidInput("the to-user strategy needs --user TELEGRAM_ID")
        user = await require_by_telegram_id(session, user_telegram_id)
        if user.team_id != team.id:
            raise InvalidInput("that user is not in this team")
    field, value = parse_match(match)
    last = (
        await session.exec(
            select(func.max(RoutingRule.position)).where(RoutingRule.team_id == team.id)
        )
    ).one()
    rule = RoutingRule(
        team_id=team.id or 0,
        position=(last or 0) + 1,
        match_field=field,
        match_value=value,
        strategy=strategy,
        user_id=user.id if user else None,
    )
    session.add(rule)
    await session.flush()
    audit.record(
        session,
        actor=None,
        channel=Channel.CLI,
        entity="routing_rule",
        entity_id=rule.id,
        action="create",
        after={"match": match, "strategy": strategy, "user": user_telegram_id},
    )
    await session.commit()
    return rule


async def list_rules(
    session: AsyncSession, *, team_name: str
) -> list[tuple[RoutingRule, User | None]]:
    team = await get_team(session, team_name)
    rows = await session.exec(
        select(RoutingRule, User)
        .join(User, col(User.id) == RoutingRule.user_id, isouter=True)
        .where(RoutingRule.team_id == team.id)
        .order_by(col(RoutingRule.position), col(RoutingRule.id))
    )
    return [(rule, user) for rule, user in rows.all()]


async def remove_rule(session: AsyncSession, *, rule_id: int) -> None:
    rule = await session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"no routing rule {rule_id}")
    await session.delete(rule)
    audit.record(
        session,
        actor=None,
        channel=Channel.CLI,
        entity="routing_rule",
        entity_id=rule_id,
        action="delete",
    )
    await session.commit()
