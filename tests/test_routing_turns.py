"""Round robin's turn order when a rep enters the rotation: created, invited, back on shift (CLI
or /shift) or reachable again, they take turns with the others instead of every lead."""

from sqlmodel.ext.asyncio.session import AsyncSession

from core import users
from core.models import Team, User, utcnow
from core.routing import route
from tests import factories
from tests.botkit import BotUnderTest, text_of


async def _next_reps(session: AsyncSession, team: Team, count: int) -> list[int | None]:
    """Route `count` new leads of the team, one at a time: the rep offered each."""
    chosen = []
    for _ in range(count):
        lead = await factories.lead(session, team, phone=None)
        offer = await route(session, lead=lead, team=team, now=utcnow())
        await session.commit()
        chosen.append(offer.user_id if offer else None)
    return chosen


async def _team_with_busy_reps(session: AsyncSession) -> tuple[Team, User, User]:
    """Alpha, whose reps Anna and Boris were offered five leads each."""
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await _next_reps(session, team, 10)
    return team, anna, boris


async def _off_shift(session: AsyncSession, rep: User) -> None:
    await users.update_user(session, telegram_id=rep.telegram_id, on_shift=False)


async def _on_shift(session: AsyncSession, rep: User) -> None:
    await users.update_user(session, telegram_id=rep.telegram_id, on_shift=True)


async def test_a_rep_added_later_takes_turns_with_the_others(session: AsyncSession) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    clara = await factories.user(session, team, name="Clara")
    assert await _next_reps(session, team, 6) == [anna.id, boris.id, clara.id] * 2


async def test_a_rep_invited_later_takes_turns_with_the_others(session: AsyncSession) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    invite = await users.create_invite(session, role="rep", team_name="Alpha", now=utcnow())
    clara = await users.accept_invite(
        session, token=invite.token, telegram_id=7_001, display_name="Clara", now=utcnow()
    )
    assert await _next_reps(session, team, 6) == [anna.id, boris.id, clara.id] * 2


async def test_a_rep_back_on_shift_takes_turns_with_the_others(session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    anna, boris, clara = [
        await factories.user(session, team, name=name) for name in ("Anna", "Boris", "Clara")
    ]
    await _off_shift(session, clara)
    assert await _next_reps(session, team, 10) == [anna.id, boris.id] * 5
    await _on_shift(session, clara)
    assert await _next_reps(session, team, 6) == [anna.id, boris.id, clara.id] * 2


async def _ahead_of_boris(session: AsyncSession, team: Team, anna: User, boris: User) -> None:
    """Anna takes two leads while Boris is full: she is two turns ahead, he stays in rotation."""
    await users.update_user(session, telegram_id=boris.telegram_id, max_open_leads=5)
    assert await _next_reps(session, team, 2) == [anna.id] * 2
    await users.update_user(session, telegram_id=boris.telegram_id, max_open_leads=0)


async def test_a_rep_back_before_the_others_caught_up_keeps_their_place(
    session: AsyncSession,
) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    await _ahead_of_boris(session, team, anna, boris)
    await _off_shift(session, anna)
    assert await _next_reps(session, team, 1) == [boris.id]
    await _on_shift(session, anna)  # still a turn ahead of Boris: not lowered to his
    assert await _next_reps(session, team, 3) == [boris.id, anna.id, boris.id]


async def test_a_rep_who_was_full_is_not_lined_up_when_put_on_shift_again(
    session: AsyncSession,
) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    await _ahead_of_boris(session, team, anna, boris)
    await _on_shift(session, boris)  # on shift already: he keeps the turns he missed
    assert await _next_reps(session, team, 3) == [boris.id, boris.id, anna.id]


async def test_only_reps_in_rotation_set_where_a_newcomer_joins(session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha")
    beta = await factories.team(session, "Beta")
    dora = await factories.user(session, team, name="Dora")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await _off_shift(session, dora)  # off shift, with no credit at all
    await factories.user(session, beta, name="Otto")
    await _next_reps(session, team, 4)
    await _next_reps(session, beta, 9)  # far ahead, but in another team
    clara = await factories.user(session, team, name="Clara")
    assert await _next_reps(session, team, 3) == [anna.id, boris.id, clara.id]
    await _on_shift(session, dora)
    assert await _next_reps(session, team, 4) == [dora.id, anna.id, boris.id, clara.id]


async def test_a_rep_reachable_again_takes_turns_with_the_others(session: AsyncSession) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    anna.reachable = False  # she blocked the bot
    await session.commit()
    assert await _next_reps(session, team, 4) == [boris.id] * 4
    await users.identify(session, anna.telegram_id)  # she writes to the bot again
    assert await _next_reps(session, team, 4) == [anna.id, boris.id] * 2


async def test_weights_hold_after_a_weighted_rep_comes_back(session: AsyncSession) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    await users.update_user(session, telegram_id=anna.telegram_id, weight=2, on_shift=False)
    await _next_reps(session, team, 6)  # Boris alone
    await _on_shift(session, anna)
    chosen = await _next_reps(session, team, 9)
    assert (chosen.count(anna.id), chosen.count(boris.id)) == (6, 3)
    assert chosen[:3].count(anna.id) == 2


async def test_shift_from_the_bot_takes_turns_with_the_others(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna, boris = await _team_with_busy_reps(session)
    assert text_of(await bot.say(anna.telegram_id, "/shift")).startswith("⚪ You are off shift")
    assert await _next_reps(session, team, 4) == [boris.id] * 4
    assert text_of(await bot.say(anna.telegram_id, "/shift")).startswith("🟢 You are on shift")
    assert await _next_reps(session, team, 4) == [anna.id, boris.id] * 2
