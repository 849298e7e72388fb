"""/find end to end: phone digits in any formatting, a part of a name, none, the menu button."""

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import LeadState, Team, User
from tests import factories
from tests.botkit import BotUnderTest, button_texts, text_of


async def _alpha(session: AsyncSession) -> tuple[Team, User]:
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    return team, anna


async def test_a_phone_is_found_whatever_its_formatting(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    lead = await factories.lead(session, team, owner=anna, name="Lena", phone="+79123456789")
    await factories.lead(session, team, owner=anna, name="Other", phone="+79160000000")
    for query in ("912 345", "8 (912) 345-67-89", "+7-912-345"):
        reply = await bot.say(anna.telegram_id, f"/find {query}")
        assert text_of(reply).startswith("🔎 1 lead found for"), query
        assert button_texts(reply) == ["Lena · First contact"]
    card = await bot.press(anna.telegram_id, reply, "Lena")
    assert text_of(card).startswith(f"Lena · #{lead.id}\n📞 +79123456789")


async def test_a_part_of_a_name_is_found_in_any_case_and_script(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _alpha(session)
    await factories.lead(session, team, owner=anna, name="Анна Петрова")
    await factories.lead(session, team, owner=anna, name="Жанна", state=LeadState.ARCHIVED)
    await factories.lead(session, team, owner=anna, name="Борис")
    reply = await bot.say(anna.telegram_id, "/find анн")
    assert text_of(reply) == "🔎 2 leads found for “анн”:"
    assert button_texts(reply) == ["Анна Петрова · First contact", "Жанна · lost"]
    upper = await bot.say(anna.telegram_id, "/find ПЕТР")
    assert button_texts(upper) == ["Анна Петрова · First contact"]


async def test_nothing_found_is_said_and_search_text_is_escaped(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna = await _alpha(session)
    reply = await bot.say(anna.telegram_id, "/find <b>nobody</b>")
    assert text_of(reply) == "Nothing found for “<b>nobody</b>”."
    assert button_texts(reply) == []


async def test_the_menu_button_asks_what_to_find(bot: BotUnderTest, session: AsyncSession) -> None:
    team, anna = await _alpha(session)
    await factories.lead(session, team, owner=anna, name="Lena")
    question = await bot.say(anna.telegram_id, "🔎 Find")
    assert text_of(question) == "What do you look for? Send a phone number or a part of a name."
    found = await bot.say(anna.telegram_id, "len")
    assert button_texts(found) == ["Lena · First contact"]
    # Answered: the next text is no search.
    assert text_of(await bot.say(anna.telegram_id, "len")).startswith("I did not understand")
    assert text_of(await bot.say(anna.telegram_id, "/find")) == text_of(question)
    leaving = await bot.say(anna.telegram_id, "/leads")
    assert text_of(leaving).startswith("📋 Your leads: 1 lead")
    assert text_of(await bot.say(anna.telegram_id, "len")).startswith("I did not understand")
