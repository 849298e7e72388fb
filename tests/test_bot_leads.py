"""/leads end to end: priority order, pages, filters, lost leads and reopening them."""

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from core import lead_edits, tags
from core.models import LeadState, Team, User, utcnow
from tests import factories
from tests.botkit import BotUnderTest, button_texts, message_of, text_of


async def _alpha(session: AsyncSession) -> tuple[Team, User]:
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    return team, anna


def _lead_buttons(call: object) -> list[str]:
    """The buttons that open leads (the rows above paging and filters)."""
    return [text for text in button_texts(call) if " · " in text]  # type: ignore[arg-type]


async def test_leads_come_overdue_first_then_by_grade_then_oldest(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    now = utcnow()
    boris = await factories.user(session, team, name="Boris")
    made = [
        ("Fresh B", "B", None, 1),
        ("Old A", "A", None, 5),
        ("Overdue C", "C", now - timedelta(hours=2), 1),
        ("New A", "A", now + timedelta(days=3, minutes=5), 2),
        ("No grade", None, None, 9),
        ("Old B", "B", None, 7),
    ]
    for name, grade, next_at, age in made:
        await factories.lead(
            session,
            team,
            owner=anna,
            name=name,
            grade=grade,
            next_action_at=next_at,
            created_at=now - timedelta(days=age),
        )
    await factories.lead(session, team, owner=boris, name="Boris's")
    await factories.lead(session, team, name="In the pool")
    await factories.lead(session, team, owner=anna, name="Gone", state=LeadState.ARCHIVED)

    reply = await bot.say(anna.telegram_id, "/leads")
    assert _lead_buttons(reply) == [
        "Overdue C · First contact ⚠️",
        "Old A · First contact",
        "New A · First contact",
        "Old B · First contact",
        "Fresh B · First contact",
        "No grade · First contact",
    ]
    lines = text_of(reply).splitlines()
    assert lines[:2] == ["📋 Your leads: 6 leads", "Open leads, most urgent first."]
    assert lines[3] == "1. ⚠️ Overdue C · First contact · C · next: 2 hours ago"
    assert lines[5] == "3. New A · First contact · A · next: in 3 days"
    from_menu = await bot.say(anna.telegram_id, "📋 Leads")
    assert text_of(from_menu) == text_of(reply)


async def test_pages_turn_in_place_and_keep_the_order(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    now = utcnow()
    for number in range(19):
        await factories.lead(
            session,
            team,
            owner=anna,
            name=f"Lead {number:02}",
            created_at=now - timedelta(hours=number),
        )
    first = await bot.say(anna.telegram_id, "/leads")
    assert "Page 1 of 3" in text_of(first)
    assert _lead_buttons(first)[0] == "Lead 18 · First contact"
    assert "◀ Previous" not in button_texts(first)
    second = await bot.press(anna.telegram_id, first, "Next ▶")
    assert second.method == "editMessageText"
    assert message_of(second)["message_id"] == message_of(first)["message_id"]
    assert "Page 2 of 3" in text_of(second)
    assert _lead_buttons(second) == [f"Lead {n:02} · First contact" for n in range(10, 2, -1)]
    third = await bot.press(anna.telegram_id, second, "Next ▶")
    assert _lead_buttons(third) == [f"Lead {n:02} · First contact" for n in (2, 1, 0)]
    assert "Next ▶" not in button_texts(third)
    assert text_of(third).splitlines()[4].startswith("17. Lead 02")
    back = await bot.press(anna.telegram_id, third, "◀ Previous")
    assert _lead_buttons(back) == _lead_buttons(second)


async def test_a_lead_button_opens_its_card_below_the_list(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    lead = await factories.lead(session, team, owner=anna, name="Lena")
    listing = await bot.say(anna.telegram_id, "/leads")
    card = await bot.press(anna.telegram_id, listing, "Lena")
    assert card.method == "sendMessage"
    assert text_of(card).startswith(f"Lena · #{lead.id}")
    assert "➡️ Stage" in button_texts(card)


async def test_filters_by_stage_tag_grade_and_idle_time(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    now = utcnow()
    vip = await factories.lead(session, team, owner=anna, name="Vip Intent", grade="A")
    await lead_edits.move_stage(session, actor=anna, lead_id=vip.id or 0, stage="intent", now=now)
    await tags.attach(session, vip, ["vip"])
    plain = await factories.lead(session, team, owner=anna, name="Plain Intent", grade="B")
    await lead_edits.move_stage(session, actor=anna, lead_id=plain.id or 0, stage="intent", now=now)
    await factories.lead(
        session, team, owner=anna, name="Quiet", last_touch_at=now - timedelta(days=20)
    )
    await factories.lead(session, team, owner=anna, name="Busy", last_touch_at=now)
    await session.commit()

    listing = await bot.say(anna.telegram_id, "/leads")
    picker = await bot.press(anna.telegram_id, listing, "Stage")
    assert text_of(picker) == "Show leads at which stage?"
    assert "✓ Any stage" in button_texts(picker)
    assert "◀ Back" in button_texts(picker)
    by_stage = await bot.press(anna.telegram_id, picker, "Intent")
    assert text_of(by_stage).splitlines()[:2] == ["📋 Your leads: 2 leads", "Filters: stage Intent"]
    assert sorted(_lead_buttons(by_stage)) == ["Plain Intent · Intent", "Vip Intent · Intent"]
    assert "Stage: Intent" in button_texts(by_stage)

    tag_picker = await bot.press(anna.telegram_id, by_stage, "Tag")
    assert button_texts(tag_picker)[:2] == ["#vip", "✓ Any tag"]
    by_tag = await bot.press(anna.telegram_id, tag_picker, "#vip")
    assert text_of(by_tag).splitlines()[:2] == [
        "📋 Your leads: 1 lead",
        "Filters: stage Intent · #vip",
    ]
    assert _lead_buttons(by_tag) == ["Vip Intent · Intent"]

    cleared = await bot.press(anna.telegram_id, by_tag, "Clear filters")
    assert len(_lead_buttons(cleared)) == 4
    grades = await bot.press(anna.telegram_id, cleared, "Grade")
    by_grade = await bot.press(anna.telegram_id, grades, lambda text: text == "B")
    assert text_of(by_grade).splitlines()[1] == "Filters: grade B"
    assert _lead_buttons(by_grade) == ["Plain Intent · Intent"]

    cleared = await bot.press(anna.telegram_id, by_grade, "Clear filters")
    idle = await bot.press(anna.telegram_id, cleared, "No touch")
    assert button_texts(idle)[:4] == ["7+ days", "14+ days", "30+ days", "✓ Any time"]
    quiet = await bot.press(anna.telegram_id, idle, "14+ days")
    assert text_of(quiet).splitlines()[1] == "Filters: no touch for 14+ days"
    # Vip and Plain were touched by their stage moves, Busy just now.
    assert _lead_buttons(quiet) == ["Quiet · First contact"]
    none = await bot.press(
        anna.telegram_id, await bot.press(anna.telegram_id, quiet, "No touch"), "30+ days"
    )
    assert "No leads match." in text_of(none)
    assert _lead_buttons(none) == []


async def test_lost_leads_are_listed_apart_and_can_be_reopened(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    await factories.lead(session, team, owner=anna, name="Open one")
    lost = await factories.lead(
        session, team, owner=anna, name="Lost one", state=LeadState.ARCHIVED, lost_reason="Price"
    )
    listing = await bot.say(anna.telegram_id, "/leads")
    assert _lead_buttons(listing) == ["Open one · First contact"]
    archive = await bot.press(anna.telegram_id, listing, "🗃 Lost")
    assert text_of(archive).splitlines()[0] == "🗃 Lost leads: 1 lead"
    assert text_of(archive).splitlines()[-1] == "1. Lost one · First contact · Price"
    assert "📋 Open leads" in button_texts(archive)
    card = await bot.press(anna.telegram_id, archive, "Lost one")
    assert "Lost: Price" in text_of(card)
    assert button_texts(card) == ["🔄 Reopen"]
    reopened = await bot.press(anna.telegram_id, card, "Reopen")
    assert reopened.method == "editMessageText"
    assert "Stage: First contact · open" in text_of(reopened)
    await session.refresh(lost)
    assert (lost.state, lost.owner_id, lost.lost_reason) == (LeadState.OWNED, anna.id, None)
    back = await bot.press(anna.telegram_id, archive, "📋 Open leads")
    assert sorted(_lead_buttons(back)) == ["Lost one · First contact", "Open one · First contact"]


async def test_a_manager_lists_the_team_and_long_names_fit_one_message(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    maria = await factories.user(session, team, role="manager", name="Maria")
    other = await factories.team(session, "Beta")
    await factories.lead(session, other, owner=await factories.user(session, other), name="Beta's")
    for number in range(9):
        await factories.lead(session, team, owner=anna, name=f"{number}" + "Я" * 199)
    reply = await bot.say(maria.telegram_id, "/leads")
    text = text_of(reply)
    assert text.splitlines()[0] == "📋 Leads: 9 leads"
    assert len(text) <= 4096
    assert len(_lead_buttons(reply)) == 8
    assert all(len(label) < 64 for label in _lead_buttons(reply))


async def test_forged_filters_are_dropped_not_trusted(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    await factories.lead(session, team, owner=anna, name="Mine")
    listing = await bot.press(anna.telegram_id, await bot.say(anna.telegram_id, "/leads"), "Lost")
    forged = await bot.press_data(
        anna.telegram_id, message_of(listing), "p:-3:<b>x</b>:999:Z:99999999:0"
    )
    assert forged.method == "editMessageText"
    assert text_of(forged).splitlines()[:2] == [
        "📋 Your leads: 1 lead",
        "Open leads, most urgent first.",
    ]
    assert _lead_buttons(forged) == ["Mine · First contact"]
    picker = await bot.press_data(anna.telegram_id, message_of(forged), "lf:stage:x:999:Z:5:0")
    assert "✓ Any stage" in button_texts(picker)


async def test_an_empty_list_says_how_to_start(bot: BotUnderTest, session: AsyncSession) -> None:
    _team, anna = await _alpha(session)
    reply = await bot.say(anna.telegram_id, "/leads")
    assert text_of(reply).splitlines() == [
        "📋 Your leads: 0 leads",
        "Open leads, most urgent first.",
        "No open leads yet. /new adds one.",
    ]
    assert button_texts(reply) == ["Stage", "Tag", "Grade", "No touch", "🗃 Lost"]
