"""Offers reach a rep's phone masked, with a Claim button; the first tap wins; /pool, /shift."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import offers, teams, users
from core.models import Lead, LeadState, Team, User, utcnow
from core.routing import route
from tests import factories
from tests.botkit import BotUnderTest, button_texts, message_of, text_of


async def _offered(session: AsyncSession, team, **fields) -> Lead:
    lead = await factories.lead(
        session,
        team,
        name="Lena <Li>",
        phone="+79123456789",
        email="lena@example.com",
        source="tilda",
        **fields,
    )
    lead.state, lead.owner_id = LeadState.POOL, None
    await route(session, lead=lead, team=team, now=utcnow())
    await session.commit()
    return lead


async def _group_team(session: AsyncSession) -> Team:
    """Alpha, whose leads are posted to its group (chat -100777) for the first tap."""
    team = await factories.team(session, "Alpha", country="RU")
    await teams.update_team(
        session, name="Alpha", values={"offer_mode": "group", "group_chat": "-100777"}
    )
    return team


async def test_an_offer_is_masked_until_claimed(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    lead = await _offered(session, team)
    lead_id, anna_id = lead.id, anna.id
    assert await bot.deliver_pushes(sessions) == 1
    offer = await bot.shown(anna.telegram_id, since=0)
    text = text_of(offer)
    assert text.startswith("🔥 New lead: Lena <Li>\nSource: tilda")
    assert "+7 912 *** ** 89 · l***@example.com" in text
    assert "9123456789" not in text and "lena@" not in text
    assert button_texts(offer) == ["✋ Claim"]
    since = bot.mark()
    await bot.press(anna.telegram_id, offer, "Claim")
    card = await bot.shown(anna.telegram_id, since=since, method="sendMessage")
    assert text_of(card).startswith("Lena <Li> · #")
    assert "📞 +79123456789" in text_of(card) and "✉️ lena@example.com" in text_of(card)
    edited = bot.standin.calls_of("editMessageText")[-1]
    assert text_of(edited).endswith("✅ Taken by Anna")
    session.expire_all()
    claimed = await session.get_one(Lead, lead_id)
    assert (claimed.state, claimed.owner_id) == ("owned", anna_id)


async def test_offers_sent_together_reach_each_rep_in_their_own_language(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The sender reads the readers of the pushes it claimed together at once: each push
    still goes out in its own reader's language, and none to a rep who cannot be reached."""
    team = await factories.team(session, "Alpha", country="RU")
    reps = [await factories.user(session, team, name=name) for name in ("Anna", "Boris", "Chen")]
    for rep, locale in zip(reps, ("en", "ru", "zh_Hans"), strict=True):
        await users.set_locale(session, user=rep, locale=locale)
    chats = [rep.telegram_id for rep in reps]
    for n in range(3):
        lead = await factories.lead(session, team, name=f"Lead {n}", phone=f"+7912345670{n}")
        await route(session, lead=lead, team=team, now=utcnow())
    reps[2].reachable = False  # Chen blocked the bot (a 403 to another push said so)
    await session.commit()
    assert await bot.deliver_pushes(sessions) == 2
    sent = {call.params["chat_id"]: text_of(call) for call in bot.standin.calls_of("sendMessage")}
    assert sent.keys() == {chats[0], chats[1]}
    assert sent[chats[0]].startswith("🔥 New lead: Lead ")
    assert sent[chats[1]].startswith("🔥 Новый лид: Lead ")


async def test_a_group_race_tells_the_late_tapper(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await _group_team(session)
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    await _offered(session, team)
    await bot.deliver_pushes(sessions)
    post = await bot.shown(-100777, since=0)
    assert "First to claim takes it" in text_of(post)
    await bot.press(anna.telegram_id, post, "Claim")
    late = await bot.press(boris.telegram_id, post, "Claim")
    assert late.method == "answerCallbackQuery"
    assert late.params["text"] == "Someone else took this lead first."
    assert late.params["show_alert"] is True
    edited = bot.standin.calls_of("editMessageText")
    assert len(edited) == 1 and text_of(edited[0]).endswith("✅ Taken by Anna")


async def test_a_group_post_nobody_claims_loses_its_button_and_the_lead_goes_to_a_rep(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await _group_team(session)
    anna = await factories.user(session, team, name="Anna")
    anna_chat = anna.telegram_id
    lead = await _offered(session, team)
    deadline = lead.claim_deadline
    await bot.deliver_pushes(sessions)
    post = message_of(await bot.shown(-100777, since=0))

    async with sessions() as tick:
        await offers.expire_offers(tick, deadline + timedelta(seconds=1))
    since = bot.mark()
    assert await bot.deliver_pushes(sessions) == 2
    edited = await bot.shown(-100777, since=since, method="editMessageText")
    assert edited.params["message_id"] == post["message_id"]
    assert text_of(edited).startswith("🔥 New lead: Lena <Li>\nSource: tilda")
    assert text_of(edited).endswith(
        "⌛ Nobody claimed it in time: it was passed on by the team's rules."
    )
    assert button_texts(edited) == []
    offer = await bot.shown(anna_chat, since=since)
    assert button_texts(offer) == ["✋ Claim"]


async def test_a_group_post_not_yet_sent_when_its_time_ran_out_is_never_sent(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await _group_team(session)
    anna = await factories.user(session, team, name="Anna")
    anna_chat = anna.telegram_id
    lead = await _offered(session, team)
    async with sessions() as tick:
        await offers.expire_offers(tick, lead.claim_deadline + timedelta(seconds=1))
    assert await bot.deliver_pushes(sessions) == 1
    sent_to = [int(call.params["chat_id"]) for call in bot.standin.calls_of("sendMessage")]
    assert sent_to == [anna_chat]  # the rep's offer; no group post


async def test_pool_and_shift(bot: BotUnderTest, session: AsyncSession) -> None:
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    anna_id, anna_chat = anna.id, anna.telegram_id
    empty = await bot.say(anna.telegram_id, "/pool")
    assert text_of(empty) == "The pool is empty."
    pooled = await factories.lead(session, team, name="Pooled", phone="+79123456780")
    pooled_id = pooled.id
    listing = await bot.say(anna.telegram_id, "/pool")
    assert text_of(listing).startswith("🗂 The team's pool, newest first:\n#")
    assert button_texts(listing) == [f"✋ #{pooled_id} Pooled"]
    card = await bot.press(anna.telegram_id, message_of(listing), f"✋ #{pooled_id} Pooled")
    assert "📞 +79123456780" in text_of(card)
    assert bot.standin.calls_of("answerCallbackQuery")[-1].params["text"] == "The lead is yours."
    session.expire_all()
    claimed = await session.get_one(Lead, pooled_id)
    assert (claimed.owner_id, claimed.state) == (anna_id, LeadState.OWNED)
    assert text_of(await bot.say(anna_chat, "/pool")) == "The pool is empty."
    off = await bot.say(anna_chat, "/shift")
    assert text_of(off).startswith("⚪ You are off shift")
    session.expire_all()
    assert (await session.get_one(User, anna_id)).on_shift is False
    on = await bot.say(anna_chat, "/shift")
    assert text_of(on).startswith("🟢 You are on shift")


async def test_a_rep_at_the_cap_is_told_and_the_lead_stays_in_the_pool(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha", country="RU")
    await teams.update_team(session, name="Alpha", values={"max_open_leads": "1"})
    anna = await factories.user(session, team, name="Anna")
    await factories.lead(session, team, owner=anna, name="Mine")
    pooled = await factories.lead(session, team, name="Pooled", phone="+79123456780")
    listing = await bot.say(anna.telegram_id, "/pool")
    answer = await bot.press(anna.telegram_id, listing, "Pooled")
    assert (answer.method, answer.params["text"]) == (
        "answerCallbackQuery",
        "You have as many open leads as your team allows. Close some first.",
    )
    await session.refresh(pooled)
    assert (pooled.state, pooled.owner_id) == (LeadState.POOL, None)


@pytest.mark.parametrize(
    ("forged", "told"),
    [
        ("claim:{theirs}:0", "Not found."),  # another team's pooled lead
        ("claim:999999:1", "Not found."),
        ("claim:abc", "This button no longer works. Open the lead again."),
    ],
)
async def test_a_forged_claim_changes_nothing(
    bot: BotUnderTest, session: AsyncSession, forged: str, told: str
) -> None:
    team = await factories.team(session, "Alpha")
    anna = await factories.user(session, team, name="Anna")
    theirs = await factories.lead(session, await factories.team(session, "Beta"), name="Pooled")
    hello = await bot.say(anna.telegram_id, "/start")
    sent = len(bot.standin.calls_of("sendMessage"))
    answer = await bot.press_data(
        anna.telegram_id, message_of(hello), forged.format(theirs=theirs.id)
    )
    assert (answer.method, answer.params["text"]) == ("answerCallbackQuery", told)
    await session.refresh(theirs)
    assert (theirs.owner_id, theirs.state) == (None, LeadState.POOL)
    assert len(bot.standin.calls_of("sendMessage")) == sent  # no card was sent


async def test_a_stranger_in_the_group_is_refused_and_takes_nothing(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team = await _group_team(session)
    await factories.user(session, team, name="Anna")
    lead = await _offered(session, team)
    await bot.deliver_pushes(sessions)
    post = await bot.shown(-100777, since=0)
    answer = await bot.press(555_000_111, post, "Claim")
    assert (answer.method, answer.params["text"]) == (
        "answerCallbackQuery",
        "This bot serves members of a sales team only.",
    )
    assert bot.standin.calls_of("editMessageText") == []
    await session.refresh(lead)
    assert (lead.state, lead.owner_id) == (LeadState.OFFERED, None)


@pytest.mark.parametrize("command", ["/pool", "/shift"])
async def test_strangers_get_no_pool_and_no_shift(bot: BotUnderTest, command: str) -> None:
    reply = await bot.say(555_000_222, command)
    assert text_of(reply).startswith("Sorry, this bot serves members of a sales team only.")
