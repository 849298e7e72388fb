"""Who reaches which lead from the bot: by command, by button and by forged button.

A rep reaches only own leads; a manager the team's; finance reads cards but changes nothing.
Whatever is refused leaves every row as it was. People's text shows literally everywhere.
"""

from typing import Any

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import LeadAction, ListFilter, ListPage
from core import tags
from core.models import (
    Attachment,
    AuditEntry,
    Lead,
    LeadState,
    LeadTag,
    StageChange,
    Tag,
    Team,
    User,
    utcnow,
)
from leadloop.standin import callback_query, make_user
from leadloop.standin.images import tiny_png
from tests import factories
from tests.botkit import SHOWING, BotUnderTest, button_texts, message_of, text_of

#: Every card action of this module's handlers, with the arguments its buttons carry.
PRESSES = [
    ("open", ""),
    ("back", ""),
    ("stage", ""),
    ("stage", "intent"),
    ("tag", ""),
    ("untag", "1"),
    ("edit", ""),
    ("edit", "phone"),
    ("attach", ""),
    ("call", ""),
    ("files", ""),
    ("release", ""),
    ("lost", ""),
    ("lost", "price"),
    ("lost", "other"),
    ("reopen", ""),
    ("followup", ""),
    ("fu_channel", "call"),
    ("fu_summary", ""),
    ("fu_intent", "up"),
    ("fu_done", ""),
    ("task", ""),
    ("fu_pick", ""),
    ("fu_due", "1h"),
]
#: The presses that change or ask to change a lead (finance may make none of them).
EDITS = [press for press in PRESSES if press[0] not in ("open", "back", "files")]


async def _two_reps(bot: BotUnderTest, session: AsyncSession) -> tuple[Team, User, User, Lead]:
    """Alpha with Anna and Boris; Boris's lead, tagged, with a photo."""
    photo = bot.standin.upload_user_file(tiny_png(), kind="photo")[-1]
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    lead = await factories.lead(
        session, team, owner=boris, name="Secret Sveta", phone="+79123456789"
    )
    await tags.attach(session, lead, ["vip"])
    session.add(
        Attachment(
            lead_id=lead.id or 0,
            kind="photo",
            file_id=photo["file_id"],
            file_unique_id=photo["file_unique_id"],
        )
    )
    await session.commit()
    return team, anna, boris, lead


async def _refusal(
    bot: BotUnderTest, user_id: int, message: dict[str, Any], data: str
) -> tuple[str, bool]:
    """Press a (forged) button: the alert it got; nothing may have been shown."""
    since = bot.mark()
    update = bot.standin.add_update(callback_query(make_user(user_id), message, data))
    query_id = update["callback_query"]["id"]
    answer = await bot.standin.wait_for_call(
        "answerCallbackQuery",
        lambda call: call.params["callback_query_id"] == query_id,
        since=since,
    )
    assert not [call for call in bot.standin.calls[since:] if call.method in SHOWING], data
    return answer.params.get("text", ""), bool(answer.params.get("show_alert"))


async def _snapshot(session: AsyncSession, lead_id: int) -> tuple[Any, ...]:
    session.expire_all()
    lead = await session.get_one(Lead, lead_id)
    counts = []
    for model in (StageChange, Attachment, AuditEntry, LeadTag, Tag):
        counts.append((await session.exec(select(func.count()).select_from(model))).one())
    fields = (lead.name, lead.phone_e164, lead.email, lead.stage, lead.state, lead.owner_id)
    return (*fields, lead.lost_reason, *counts)


async def test_a_rep_cannot_reach_another_reps_lead_in_any_way(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, _boris, lead = await _two_reps(bot, session)
    lead_id, anna_id = lead.id or 0, anna.telegram_id
    before = await _snapshot(session, lead_id)

    assert text_of(await bot.say(anna_id, f"/lead {lead_id}")) == "Not found."
    hello = await bot.say(anna_id, "/leads")
    assert "Secret" not in text_of(hello)
    for action, arg in PRESSES:
        forged = LeadAction(action=action, lead_id=lead_id, arg=arg).pack()
        refusal = await _refusal(bot, anna_id, message_of(hello), forged)
        assert refusal == ("Not found.", True), (action, arg)
    # No question was asked, so a text answers none.
    assert text_of(await bot.say(anna_id, "Moving away")).startswith("I did not understand")

    for data in (
        ListPage(stage="first_contact").pack(),
        ListPage(lost=True).pack(),
        ListFilter(kind="tag").pack(),
    ):
        shown = await bot.press_data(anna_id, message_of(hello), data)
        assert "Secret" not in text_of(shown)
        assert not any("Secret" in text for text in button_texts(shown))
    for query in ("/find 912 345", "/find +7 912 345-67-89", "/find secret", "/find свет"):
        assert text_of(await bot.say(anna_id, query)).startswith("Nothing found"), query
    assert await _snapshot(session, lead_id) == before


async def test_a_manager_works_the_teams_leads_but_not_another_teams(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, _anna, _boris, lead = await _two_reps(bot, session)
    maria = await factories.user(session, team, role="manager", name="Maria")
    beta = await factories.team(session, "Beta", country="RU")
    stranger = await factories.lead(
        session, beta, owner=await factories.user(session, beta), name="Beta Bob"
    )
    lead_id, stranger_id, maria_id = lead.id or 0, stranger.id or 0, maria.telegram_id

    listing = await bot.say(maria_id, "/leads")
    assert "Secret Sveta · First contact" in button_texts(listing)
    assert "Beta Bob" not in text_of(listing)
    card = await bot.say(maria_id, f"/lead {lead_id}")
    moved = await bot.press(maria_id, await bot.press(maria_id, card, "Stage"), "Invited")
    assert "Stage: Invited" in text_of(moved)
    found = await bot.say(maria_id, "/find 912 345")
    assert button_texts(found) == ["Secret Sveta · Invited"]

    before = await _snapshot(session, stranger_id)
    assert text_of(await bot.say(maria_id, f"/lead {stranger_id}")) == "Not found."
    for action, arg in PRESSES:
        forged = LeadAction(action=action, lead_id=stranger_id, arg=arg).pack()
        refusal = await _refusal(bot, maria_id, message_of(card), forged)
        assert refusal == ("Not found.", True), (action, arg)
    assert text_of(await bot.say(maria_id, "/find Beta")).startswith("Nothing found")
    assert await _snapshot(session, stranger_id) == before


async def test_finance_reads_cards_and_files_but_may_change_nothing(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, _anna, _boris, lead = await _two_reps(bot, session)
    fiona = await factories.user(session, team, role="finance", name="Fiona")
    lead_id, fiona_id = lead.id or 0, fiona.telegram_id
    before = await _snapshot(session, lead_id)

    card = await bot.say(fiona_id, f"/lead {lead_id}")
    assert text_of(card).startswith(f"Secret Sveta · #{lead_id}\n📞 +79123456789")
    assert button_texts(card) == ["🗂 Files"]
    for action, arg in EDITS:
        forged = LeadAction(action=action, lead_id=lead_id, arg=arg).pack()
        refusal = await _refusal(bot, fiona_id, message_of(card), forged)
        assert refusal == ("You may not change this lead.", True), (action, arg)
    assert text_of(await bot.say(fiona_id, "Moving away")).startswith("I did not understand")
    since = bot.mark()
    await bot.press(fiona_id, card, "Files")
    sent = await bot.shown(fiona_id, since=since, method="sendPhoto")
    assert sent.response["ok"] is True
    (kept,) = (await session.exec(select(Attachment))).all()
    assert sent.params["photo"] == kept.file_id
    assert await _snapshot(session, lead_id) == before


async def test_a_lead_offered_to_a_rep_is_theirs_to_claim_not_to_change(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    """Until the rep claims it, forged buttons neither reveal its contact nor take it."""
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    lead = await factories.lead(session, team, name="Lena", phone="+79123456789")
    lead.state, lead.owner_id, lead.claim_deadline = LeadState.OFFERED, anna.id, utcnow()
    await session.commit()
    lead_id, anna_id = lead.id or 0, anna.telegram_id
    before = await _snapshot(session, lead_id)

    card = await bot.say(anna_id, f"/lead {lead_id}")
    assert "📞 +7 912 *** ** 89" in text_of(card) and "9123456789" not in text_of(card)
    for action, arg in EDITS:
        forged = LeadAction(action=action, lead_id=lead_id, arg=arg).pack()
        refusal = await _refusal(bot, anna_id, message_of(card), forged)
        assert refusal == ("You may not change this lead.", True), (action, arg)
    assert await _snapshot(session, lead_id) == before


async def test_names_with_markup_show_literally_in_list_card_and_search(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    bold = await factories.lead(session, team, owner=anna, name="<b>x</b>", next_action_at=utcnow())
    await factories.lead(session, team, owner=anna, name="*x*")
    listing = await bot.say(anna.telegram_id, "/leads")
    assert "1. ⚠️ <b>&lt;b&gt;x&lt;/b&gt;</b> · First contact" in listing.params["text"]
    assert "1. ⚠️ <b>x</b> · First contact" in text_of(listing)
    assert "2. *x* · First contact" in text_of(listing)
    assert button_texts(listing)[:2] == ["<b>x</b> · First contact ⚠️", "*x* · First contact"]

    card = await bot.press(anna.telegram_id, listing, "<b>x</b>")
    assert text_of(card).startswith(f"<b>x</b> · #{bold.id}")
    assert card.params["text"].startswith("<b>&lt;b&gt;x&lt;/b&gt;</b>")
    picker = await bot.press(anna.telegram_id, card, "Stage")
    assert text_of(picker) == "Move <b>x</b> to which stage?"
    found = await bot.say(anna.telegram_id, "/find *x")
    assert button_texts(found) == ["*x* · First contact"]
    assert text_of(found) == "🔎 1 lead found for “*x”:"
    assert (bold.state, bold.stage) == (LeadState.OWNED, "first_contact")
