"""Entering leads in the bot: the guided /new, the one-line /new, contact cards, duplicates."""

import asyncio
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AskOwner
from core import tags
from core.models import AuditEntry, Lead, OutboxMessage, StageChange, Team, User
from leadloop.standin import (
    ApiCall,
    BotApiStandin,
    contact_message,
    group_chat,
    make_user,
    text_message,
)
from tests import factories
from tests.botkit import (
    TOKEN,
    BotUnderTest,
    button_texts,
    message_of,
    run_bot,
    stop_bot,
    text_of,
)

PHONE_QUESTION = (
    "📞 The phone number of Anna Li? Type it, or attach their contact card (📎 → Contact)."
)
SOURCE_QUESTION = "Where did Anna Li come from?"
SOURCE_BUTTONS = ["referral", "walk-in", "incoming call", "other", "✖️ Cancel"]
SAVED = "✅ Lead saved."


async def _team(session: AsyncSession, preset: str = "generic") -> tuple[Team, User]:
    team = await factories.team(session, "Alpha", country="RU", currency="RUB", preset=preset)
    return team, await factories.user(session, team, name="Anna")


async def _sent(
    bot: BotUnderTest, chat_id: int, since: int, matches: Callable[[str], bool]
) -> ApiCall:
    """The first message sent to the chat after `since` whose text matches."""
    for _ in range(100):
        for call in bot.standin.calls[since:]:
            chat = call.params.get("chat_id")
            to_chat = chat is not None and int(chat) == chat_id
            if call.method == "sendMessage" and to_chat and matches(text_of(call)):
                return call
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no such message to {chat_id}")


async def _card(bot: BotUnderTest, chat_id: int, since: int, lead: Lead) -> ApiCall:
    return await _sent(bot, chat_id, since, lambda text: text.startswith(f"{lead.name} · #"))


async def _leads(session: AsyncSession) -> list[Lead]:
    return list((await session.exec(select(Lead).order_by(col(Lead.id)))).all())


async def _to_source_step(bot: BotUnderTest, user_id: int) -> ApiCall:
    await bot.say(user_id, "/new")
    await bot.say(user_id, "Anna Li")
    reply = await bot.say(user_id, "+7 912 345 67 89")
    assert text_of(reply) == SOURCE_QUESTION
    return reply


async def test_the_guided_entry_saves_a_lead_owned_by_the_rep(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session, preset="home-renovation")
    uid = anna.telegram_id
    reply = await bot.say(uid, "/new")
    assert text_of(reply).startswith("➕ New lead\nWhat is the customer's name?")
    assert button_texts(reply) == ["✖️ Cancel"]
    assert text_of(await bot.say(uid, "  Anna Li ")) == PHONE_QUESTION
    reply = await bot.say(uid, "8 (912) 345-67-89")
    assert (text_of(reply), button_texts(reply)) == (SOURCE_QUESTION, SOURCE_BUTTONS)
    reply = await bot.press(uid, reply, "referral")
    assert text_of(reply) == "House type of Anna Li? Send it, or tap Skip."
    assert button_texts(reply) == ["⏭ Skip", "✖️ Cancel"]
    reply = await bot.say(uid, "brick")
    assert text_of(reply).startswith("Area, m² of Anna Li?")
    reply = await bot.press(uid, reply, "Skip")
    assert text_of(reply).startswith("Style of Anna Li?")
    reply = await bot.say(uid, "loft")
    assert text_of(reply) == (
        "Budget of Anna Li? Send it, or tap Skip.\nFor example: 250000, 500k, 2m."
    )
    reply = await bot.say(uid, "2m")
    assert text_of(reply).splitlines() == [
        "📝 Check the new lead",
        "Name: Anna Li",
        "Phone: +79123456789",
        "Source: referral",
        "House type: brick",
        "Style: loft",
        "Budget: RUB2,000,000.00",
    ]
    assert button_texts(reply) == ["✅ Save", "✖️ Cancel"]
    since = bot.mark()
    saved = await bot.press(uid, reply, "Save")
    assert (text_of(saved), button_texts(saved)) == (SAVED, [])

    [lead] = await _leads(session)
    assert (lead.name, lead.phone_e164, lead.owner_id) == ("Anna Li", "+79123456789", anna.id)
    assert (lead.state, lead.stage, lead.source) == ("owned", "first_contact", "referral")
    assert lead.profile == {"house_type": "brick", "style": "loft"}
    assert (lead.budget, lead.budget_currency) == (Decimal("2000000"), "RUB")
    card = await _card(bot, uid, since, lead)
    assert "Budget: RUB2,000,000.00" in text_of(card)
    assert "📝 Follow-up" in button_texts(card)
    change = (await session.exec(select(StageChange).where(StageChange.lead_id == lead.id))).one()
    assert (change.from_stage, change.to_stage, change.actor_id) == (None, "first_contact", anna.id)
    created = (
        await session.exec(
            select(AuditEntry).where(AuditEntry.entity == "lead", AuditEntry.action == "create")
        )
    ).all()
    assert [(entry.entity, entry.entity_id, entry.actor_id) for entry in created] == [
        ("lead", lead.id, anna.id)
    ]
    assert text_of(await bot.say(uid, "hello")).startswith("I did not understand that.")


async def test_the_menu_button_starts_the_entry_and_skipping_leaves_the_profile_empty(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    reply = await bot.say(anna.telegram_id, "➕ New lead")
    assert text_of(reply).startswith("➕ New lead\nWhat is the customer's name?")
    await bot.say(anna.telegram_id, "Anna Li")
    reply = await bot.say(anna.telegram_id, "+7 912 345 67 89")
    reply = await bot.press(anna.telegram_id, reply, "other")
    reply = await bot.press(anna.telegram_id, reply, "Skip")
    assert text_of(reply).splitlines()[-1] == "Source: other"
    await bot.press(anna.telegram_id, reply, "Save")
    [lead] = await _leads(session)
    assert (lead.source, lead.budget, lead.profile) == ("other", None, {})


async def test_the_reps_own_number_is_refused_and_a_customers_card_accepted(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    await bot.say(uid, "/new")
    await bot.say(uid, "Anna Li")
    own = await bot.share_contact(uid, "79001112233", own=True)
    assert text_of(own) == (
        "⚠️ That is your own number, not the customer's. Type the customer's number, "
        "or attach their contact card (📎 → Contact).\n\n" + PHONE_QUESTION
    )
    # A Telegram user's card: their id (not the sender's), digits without the plus.
    update = contact_message(make_user(uid), "79123456789", first_name="Lena", own=False)
    update["message"]["contact"]["user_id"] = 777_000_555
    reply = await bot.send(update, uid)
    assert text_of(reply) == SOURCE_QUESTION
    reply = await bot.press(uid, reply, "walk-in")
    reply = await bot.press(uid, reply, "Skip")
    await bot.press(uid, reply, "Save")
    [lead] = await _leads(session)
    assert (lead.name, lead.phone_e164, lead.source) == ("Anna Li", "+79123456789", "walk-in")
    assert all(row.phone_e164 != "+79001112233" for row in await _leads(session))


async def test_a_contact_card_at_the_name_step_gives_name_and_phone(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    await bot.say(anna.telegram_id, "/new")
    update = contact_message(
        make_user(anna.telegram_id),
        "+7 912 345 67 89",
        first_name="Lena",
        last_name="Li",
        own=False,
    )
    reply = await bot.send(update, anna.telegram_id)
    assert text_of(reply) == "Where did Lena Li come from?"


async def test_bad_answers_get_a_hint_and_the_same_question_and_nothing_is_saved(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    await bot.say(uid, "/new")
    sticker = text_message(make_user(uid), "-")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "CAACAgIAAxkBAAEL",
        "file_unique_id": "AgADbQ",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    reply = await bot.send(sticker, uid)
    assert text_of(reply).startswith("⚠️ Please send it as text.\n\n➕ New lead\n")
    await bot.say(uid, "Anna Li")
    reply = await bot.say(uid, "12")
    assert text_of(reply) == (
        "⚠️ 12 cannot be a phone number: check the number of digits.\n\n" + PHONE_QUESTION
    )
    reply = await bot.say(uid, "call me maybe")
    assert text_of(reply) == "⚠️ call me maybe is not a phone number.\n\n" + PHONE_QUESTION
    await bot.say(uid, "+7 912 345 67 89")
    reply = await bot.say(uid, "a friend sent her")
    assert text_of(reply) == "⚠️ Please tap one of the buttons.\n\n" + SOURCE_QUESTION
    assert button_texts(reply) == SOURCE_BUTTONS
    await bot.press(uid, reply, "referral")
    reply = await bot.say(uid, "lots")
    assert text_of(reply).startswith(
        "⚠️ That is not an amount. Examples: 250000, 500k, 2m.\n\nBudget of Anna Li?"
    )
    reply = await bot.say(uid, "-5")
    assert text_of(reply).startswith("⚠️ That is not an amount.")
    reply = await bot.say(uid, "500k")
    assert text_of(reply).startswith("📝 Check the new lead")
    reply = await bot.say(uid, "yes")
    assert text_of(reply).startswith("⚠️ Please tap one of the buttons.\n\n📝 Check the new lead")
    assert await _leads(session) == []


async def test_cancel_leaves_the_entry_and_restores_the_menu(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    await bot.say(uid, "/new")
    await bot.say(uid, "Anna Li")
    reply = await bot.say(uid, "/cancel")
    assert text_of(reply) == "Cancelled. Nothing was saved."
    assert "➕ New lead" in button_texts(reply)
    assert text_of(await bot.say(uid, "+7 912 345 67 89")).startswith("I did not understand")

    source = await _to_source_step(bot, uid)
    cancelled = await bot.press(uid, source, "Cancel")
    assert (text_of(cancelled), button_texts(cancelled)) == ("Cancelled. Nothing was saved.", [])
    stale = await bot.press(uid, source, "referral")
    assert stale.params["text"].startswith("This button no longer works.")
    assert await _leads(session) == []


async def test_other_commands_pass_through_and_new_starts_over(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    await bot.say(uid, "/new")
    help_reply = await bot.say(uid, "/help")
    assert "What is the customer's name?" not in text_of(help_reply)
    assert text_of(await bot.say(uid, "Anna Li")) == PHONE_QUESTION
    for other in ("/leads", "📋 Leads"):
        listing = await bot.say(uid, other)
        assert text_of(listing).startswith("📋 Your leads")
    assert await _leads(session) == []
    restarted = await bot.say(uid, "/new")
    assert text_of(restarted).startswith("➕ New lead\nWhat is the customer's name?")


async def test_one_line_entry_saves_budget_tags_and_comment(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    since = bot.mark()
    reply = await bot.say(uid, "/new Anna Li +7 912 345 67 89 budget 2m #referral calls after 6")
    assert text_of(reply) == SAVED
    assert "➕ New lead" in button_texts(reply)
    [lead] = await _leads(session)
    assert (lead.name, lead.phone_e164, lead.owner_id) == ("Anna Li", "+79123456789", anna.id)
    assert (lead.budget, lead.source, lead.stage) == (Decimal("2000000"), "manual", "first_contact")
    assert await tags.of_lead(session, lead.id or 0) == ["referral"]
    card = text_of(await _card(bot, uid, since, lead))
    assert "#referral" in card
    assert "calls after 6" in card

    refused = await bot.say(uid, "/new +7 912 345 67 89")
    assert text_of(refused) == "Write the name, then the phone: /new Anna Li +7 912 345 67 89"
    assert len(await _leads(session)) == 1


async def test_finance_cannot_enter_leads(bot: BotUnderTest, session: AsyncSession) -> None:
    team, _ = await _team(session)
    fiona = await factories.user(session, team, role="finance", name="Fiona")
    for text in ("/new", "/new Anna Li +7 912 345 67 89"):
        reply = await bot.say(fiona.telegram_id, text)
        assert text_of(reply) == "Only reps and managers of a team can enter leads."
    assert await _leads(session) == []


async def test_a_forwarded_contact_card_creates_a_lead(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    since = bot.mark()
    reply = await bot.share_contact(uid, "+7 912 345 67 89", own=False, first_name="Lena")
    assert text_of(reply) == SAVED
    [lead] = await _leads(session)
    assert (lead.name, lead.phone_e164, lead.source, lead.owner_id) == (
        "Lena",
        "+79123456789",
        "contact",
        anna.id,
    )
    assert "Source: shared contact" in text_of(await _card(bot, uid, since, lead))

    own = await bot.share_contact(uid, "+7 900 111 22 33", own=True)
    assert text_of(own).startswith("That is your own number. To add a customer, send their")
    # In a team's group a card is no lead: its card would show the customer to everyone.
    in_group = contact_message(
        make_user(uid), "+7 912 000 11 22", first_name="Oleg", own=False, chat=group_chat(-100_5)
    )
    assert SAVED not in text_of(await bot.send(in_group, -100_5))
    assert len(await _leads(session)) == 1


async def test_a_known_phone_in_another_format_makes_no_second_record(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _team(session)
    maria = await factories.user(session, team, role="manager", name="Maria")
    lead = await factories.lead(
        session, team, owner=anna, name="Lena Petrova", phone="+79123456789"
    )
    since = bot.mark()
    mine = await bot.say(anna.telegram_id, "/new Lena 8 (912) 345-67-89")
    assert text_of(mine) == "This customer is already in LeadLoop."
    await _card(bot, anna.telegram_id, since, lead)
    since = bot.mark()
    seen = await bot.say(maria.telegram_id, "/new Lena P. +7 912 345 67 89")
    assert text_of(seen) == "This customer is already in LeadLoop."
    await _card(bot, maria.telegram_id, since, lead)
    assert [row.id for row in await _leads(session)] == [lead.id]
    attempts = await session.exec(
        select(AuditEntry.actor_id).where(AuditEntry.action == "duplicate_attempt")
    )
    assert sorted(attempts.all()) == sorted([anna.id, maria.id])


async def test_another_reps_customer_is_shown_masked_with_a_button_to_ask(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team, anna = await _team(session)
    maria = await factories.user(session, team, role="manager", name="Maria")
    boris = await factories.user(session, team, name="<i>Boris</i>")
    lead = await factories.lead(
        session, team, owner=anna, name="Lena Petrova", phone="+79123456789"
    )
    other = await factories.lead(session, team, owner=anna, name="Oleg")
    since = bot.mark()
    notice = await bot.say(boris.telegram_id, "/new Lena 8 (912) 345-67-89")
    assert text_of(notice) == (
        "⚠️ This customer belongs to another rep.\n"
        "L*** P*** · +7 912 *** ** 89\n"
        "Owner: A***\n"
        "You cannot open this lead: ask its owner and your manager."
    )
    assert button_texts(notice) == ["🙋 Ask the owner and the manager"]
    await asyncio.sleep(0.2)
    shown = [text_of(call) for call in bot.standin.calls[since:] if call.method == "sendMessage"]
    assert shown == [text_of(notice)]
    assert len(await _leads(session)) == 2

    asked = await bot.press(boris.telegram_id, notice, "Ask")
    assert text_of(asked).endswith("\n\n✉️ You asked the owner and the manager.")
    assert button_texts(asked) == []
    answers = bot.standin.callback_answers
    assert any(answer.get("text") == "Asked." for answer in answers.values())
    pushes = (await session.exec(select(OutboxMessage))).all()
    assert sorted((push.kind, push.recipient_id) for push in pushes) == sorted(
        [("duplicate_request", anna.id), ("duplicate_request", maria.id)]
    )
    since = bot.mark()
    assert await bot.deliver_pushes(sessions) == 2
    push = await bot.shown(anna.telegram_id, since=since)
    assert text_of(push) == (
        f"<i>Boris</i> met your customer Lena Petrova (#{lead.id}) and asks about them.\n"
        f"Open it: /lead {lead.id}"
    )

    for forged in (other.id or 0, 999_999):
        data = AskOwner(lead_id=forged).pack()
        refused = await bot.press_data(boris.telegram_id, message_of(notice), data)
        assert refused.params["text"] == "Not found."
    assert len((await session.exec(select(OutboxMessage))).all()) == 2


async def test_the_guided_entry_of_a_taken_customer_ends_in_the_masked_notice(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna = await _team(session)
    boris = await factories.user(session, team, name="Boris")
    await factories.lead(session, team, owner=anna, name="Lena Petrova", phone="+79123456789")
    reply = await _to_source_step(bot, boris.telegram_id)
    reply = await bot.press(boris.telegram_id, reply, "walk-in")
    reply = await bot.press(boris.telegram_id, reply, "Skip")
    notice = await bot.press(boris.telegram_id, reply, "Save")
    assert text_of(notice).startswith("⚠️ This customer belongs to another rep.\nL*** P***")
    assert button_texts(notice) == ["🙋 Ask the owner and the manager"]
    assert len(await _leads(session)) == 1


async def test_peoples_text_shows_literally(bot: BotUnderTest, session: AsyncSession) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    since = bot.mark()
    reply = await bot.say(uid, "/new <b>x</b> +7 912 345 67 89 #vip")
    assert text_of(reply) == SAVED
    [lead] = await _leads(session)
    card = await _card(bot, uid, since, lead)
    assert text_of(card).startswith(f"<b>x</b> · #{lead.id}")
    assert "&lt;b&gt;x&lt;/b&gt;" in card.params["text"]

    await bot.say(uid, "/new")
    asked = await bot.say(uid, "*y* & <i>z</i>")
    assert text_of(asked).startswith("📞 The phone number of *y* & <i>z</i>?")


async def _answered(standin: BotApiStandin) -> None:
    """Wait until the bot confirmed every update (as its next getUpdates does)."""
    for _ in range(100):
        if not standin.pending_updates:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("updates left unconfirmed")


async def test_a_half_entered_lead_survives_a_restart(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, anna = await _team(session)
    uid = anna.telegram_id
    async with BotApiStandin(token=TOKEN) as standin:
        kit = BotUnderTest(standin)
        first = await run_bot(kit, sessions)
        try:
            source = await _to_source_step(kit, uid)
            await _answered(standin)
        finally:
            await stop_bot(*first)
        second = await run_bot(kit, sessions)
        try:
            reply = await kit.press(uid, source, "walk-in")
            reply = await kit.say(uid, "300k")
            assert text_of(reply).splitlines()[1:4] == [
                "Name: Anna Li",
                "Phone: +79123456789",
                "Source: walk-in",
            ]
            saved = await kit.press(uid, reply, "Save")
            assert text_of(saved) == SAVED
        finally:
            await stop_bot(*second)
    [lead] = await _leads(session)
    assert (lead.name, lead.phone_e164, lead.source, lead.budget) == (
        "Anna Li",
        "+79123456789",
        "walk-in",
        Decimal("300000"),
    )
