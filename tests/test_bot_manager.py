"""Managers in the bot: /team, /invite, /reassign, /merge, /history and /settings, end to end."""

import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import MergeLeads, Reassign
from core import audit, followups, lead_edits, lifecycle, tags, users
from core.models import (
    Activity,
    AuditEntry,
    Channel,
    ConversationState,
    Lead,
    OutboxMessage,
    StageChange,
    Task,
    Team,
    User,
    utcnow,
)
from leadloop.standin import photo_message, tiny_png
from leadloop.standin.bot_settings import commands_key
from tests import factories
from tests.botkit import BotUnderTest, button_texts, buttons, message_of, text_of

REFUSAL = "Only a manager can do this."


async def _alpha(session: AsyncSession) -> tuple[Team, User, User, User]:
    team = await factories.team(session, "Alpha", country="RU")
    maria = await factories.user(session, team, role="manager", name="Maria")
    anna = await factories.user(session, team, name="Anna")
    boris = await factories.user(session, team, name="Boris")
    return team, maria, anna, boris


async def test_team_shows_shifts_roles_and_open_leads(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, anna, boris = await _alpha(session)
    await users.update_user(session, telegram_id=boris.telegram_id, on_shift=False)
    clara = await factories.user(session, team, name="Clara")
    clara.reachable = False  # she blocked the bot
    await session.commit()
    for name in ("Lena", "Oleg"):
        await factories.lead(session, team, owner=anna, name=name)
    reply = await bot.say(maria.telegram_id, "/team")
    lines = text_of(reply).splitlines()
    assert lines[0] == "👥 Your team (🟢 on shift, ⚪ off shift, 🚫 has blocked the bot):"
    assert "🟢 Anna · sales rep · 2 open leads" in lines
    assert "🚫 Clara · sales rep · 0 open leads" in lines
    assert "🟢 Maria · manager · 0 open leads" in lines
    assert lines[-1] == "⚪ Boris · sales rep · 0 open leads"
    from_menu = await bot.say(maria.telegram_id, "👥 Team")
    assert text_of(from_menu) == text_of(reply)
    finance = await factories.user(session, team, role="finance")
    for outsider in (anna, finance):
        assert text_of(await bot.say(outsider.telegram_id, "/team")) == REFUSAL


async def test_an_invite_link_from_the_bot_binds_whoever_opens_it_once(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _, maria, anna, _ = await _alpha(session)
    reply = await bot.say(maria.telegram_id, "/invite finance")
    text = text_of(reply)
    assert text.startswith("Send this link to your new finance. It works once and expires in 7")
    token = re.search(r"https://t\.me/leadloop_bot\?start=([\w-]+)$", text)
    assert token is not None, text
    since = bot.mark()
    joined = await bot.say(7_001, f"/start {token[1]}", first_name="Fiona")
    assert text_of(joined) == "Hello, Fiona! You are signed in to LeadLoop as finance of Alpha."
    fiona = await users.get_by_telegram_id(session, 7_001)
    assert fiona is not None and (fiona.role, fiona.team_id) == ("finance", maria.team_id)
    # Finance gets its own command list in its chat.
    await bot.standin.wait_for_call("setMyCommands", since=since)
    own = bot.standin.commands[commands_key({"type": "chat", "chat_id": 7_001}, None)]
    assert [command["command"] for command in own] == ["leads", "find", "lead", "lang", "help"]
    again = await bot.say(7_002, f"/start {token[1]}")
    assert text_of(again).startswith("This invitation link is unknown, used or expired.")

    assert text_of(await bot.say(maria.telegram_id, "/invite admin")).startswith("Whom do you")
    assert text_of(await bot.say(anna.telegram_id, "/invite")) == REFUSAL


async def test_reassign_hands_the_lead_over_and_tells_the_new_owner(
    bot: BotUnderTest, session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    team, maria, anna, boris = await _alpha(session)
    lead = await factories.lead(session, team, owner=anna, name="Lena <Li>")
    lead_id, boris_id, boris_chat = lead.id, boris.id, boris.telegram_id
    refusal = await bot.say(anna.telegram_id, f"/reassign {lead_id}")
    assert text_of(refusal) == REFUSAL
    forged = Reassign(lead_id=lead_id, user_id=anna.id).pack()
    refused = await bot.press_data(anna.telegram_id, message_of(refusal), forged)
    assert refused.params["text"] == REFUSAL

    picker = await bot.say(maria.telegram_id, f"/reassign #{lead_id}")
    assert text_of(picker) == f"Hand Lena <Li> (#{lead_id}) to:"
    assert button_texts(picker) == ["🟢 Boris"]  # the owner is not offered the lead again
    done = await bot.press(maria.telegram_id, picker, "Boris")
    assert text_of(done) == f"✅ Lena <Li> (#{lead_id}) is now Boris's lead; they have been told."
    await session.refresh(lead)
    assert lead.owner_id == boris_id
    push = (await session.exec(select(OutboxMessage))).one()
    assert (push.kind, push.chat_id) == ("lead_assigned", boris_chat)
    assert await bot.deliver_pushes(sessions) == 1
    told = await bot.shown(boris_chat, since=0)
    assert text_of(told).startswith(f"Maria handed you the lead Lena <Li> (#{lead_id}).")

    assert text_of(await bot.say(maria.telegram_id, "/reassign")).startswith("Which lead?")


async def test_merge_asks_first_then_keeps_everything_of_both(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, anna, _ = await _alpha(session)
    keep = await factories.lead(session, team, owner=anna, name="Anna Li", phone="+79161110000")
    drop = await factories.lead(session, team, owner=anna, name="Anna L.", phone="+79162220000")
    keep_id, drop_id, now = keep.id, drop.id, utcnow()
    await lead_edits.move_stage(session, actor=anna, lead_id=drop_id, stage="intent", now=now)
    await lead_edits.add_tags(session, actor=anna, lead_id=drop_id, names=["vip"])
    await lead_edits.add_tags(session, actor=anna, lead_id=keep_id, names=["referral"])
    await followups.log_followup(
        session,
        actor=anna,
        lead_id=drop_id,
        channel="call",
        summary="wants a quote",
        intent="up",
        next_step="send the quote",
        due=now + timedelta(days=1),
        now=now,
    )
    assert text_of(await bot.say(anna.telegram_id, f"/merge {keep_id} {drop_id}")) == REFUSAL

    ask = await bot.say(maria.telegram_id, f"/merge {keep_id} {drop_id}")
    lines = text_of(ask).splitlines()
    assert lines[:3] == [
        "Merge these two records of one customer?",
        f"Keep: #{keep_id} Anna Li · +79161110000",
        f"Fold in: #{drop_id} Anna L. · +79162220000",
    ]
    assert button_texts(ask) == ["✅ Merge", "✖️ Cancel"]
    cancelled = await bot.press(maria.telegram_id, ask, "Cancel")
    assert text_of(cancelled) == "Merge cancelled. Nothing was changed."
    assert await session.get(Lead, drop_id) is not None

    ask = await bot.say(maria.telegram_id, f"/merge {keep_id} {drop_id}")
    since = bot.mark()
    done = await bot.press(maria.telegram_id, ask, "Merge")
    assert text_of(done) == f"✅ Merged: #{drop_id} is now part of Anna Li (#{keep_id})."
    card = await bot.shown(maria.telegram_id, since=since, method="sendMessage")
    assert text_of(card).startswith(f"Anna Li · #{keep_id}\n📞 +79161110000")
    assert (await session.exec(select(Lead.id))).all() == [keep_id]
    for child in (Activity, Task, StageChange):
        assert set((await session.exec(select(child.lead_id))).all()) == {keep_id}
    assert await tags.of_lead(session, keep_id) == ["referral", "vip"]

    again = await bot.press_data(
        maria.telegram_id, message_of(ask), buttons(ask)[0][0]["callback_data"]
    )
    assert again.params["text"] == "Not found."


async def test_a_lead_of_another_team_cannot_be_merged(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, anna, _ = await _alpha(session)
    beta = await factories.team(session, "Beta")
    ours = await factories.lead(session, team, owner=anna)
    theirs = await factories.lead(session, beta, name="Secret Customer")
    reply = await bot.say(maria.telegram_id, f"/merge {ours.id} {theirs.id}")
    assert text_of(reply) == "Not found."
    forged = MergeLeads(keep_id=ours.id, drop_id=theirs.id, ok=True).pack()
    refused = await bot.press_data(maria.telegram_id, message_of(reply), forged)
    assert refused.params["text"] == "Not found."
    assert (await session.exec(select(Lead.id).where(Lead.id == theirs.id))).one()


async def test_history_lists_the_changes_newest_first(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, anna, boris = await _alpha(session)
    lead = await factories.lead(session, team, owner=anna, name="Lena")
    lead_id, now = lead.id, utcnow()
    await lead_edits.move_stage(session, actor=anna, lead_id=lead_id, stage="intent", now=now)
    await lead_edits.edit_field(session, actor=anna, lead_id=lead_id, field="region", value="<b>")
    await lead_edits.add_tags(session, actor=anna, lead_id=lead_id, names=["vip"])
    await lifecycle.mark_lost(session, actor=anna, lead_id=lead_id, reason="too dear", now=now)
    await lifecycle.reopen(session, actor=maria, lead_id=lead_id, now=now)
    await lifecycle.reassign(session, actor=maria, lead_id=lead_id, to_user_id=boris.id, now=now)
    assert text_of(await bot.say(boris.telegram_id, f"/history {lead_id}")) == REFUSAL

    reply = await bot.say(maria.telegram_id, f"/history {lead_id}")
    lines = text_of(reply).splitlines()
    assert lines[0] == f"🕘 History of lead #{lead_id}, newest first:"
    actions = [line.split(" · ", 2)[1:] for line in lines[1:]]
    assert actions == [
        ["Maria", "reassigned Anna → Boris"],
        ["Maria", "reopened; owner Anna"],
        ["Anna", "marked lost: too dear"],
        ["Anna", "tagged #vip"],
        ["Anna", "Region: — → <b>"],
        ["Anna", "stage First contact → Intent"],
    ]
    assert buttons(reply) == []


async def test_a_long_history_comes_in_pages(bot: BotUnderTest, session: AsyncSession) -> None:
    team, maria, anna, _ = await _alpha(session)
    lead = await factories.lead(session, team, owner=anna)
    for number in range(25):
        audit.record(
            session,
            actor=anna,
            channel=Channel.BOT,
            entity="lead",
            entity_id=lead.id,
            action="tag",
            after={"tags": [f"t{number}"]},
        )
    await session.commit()
    first = await bot.say(maria.telegram_id, f"/history {lead.id}")
    assert len(text_of(first).splitlines()) == 1 + 20
    assert button_texts(first) == ["Older ▶"]
    second = await bot.press(maria.telegram_id, first, "Older")
    assert len(text_of(second).splitlines()) == 1 + 5
    assert button_texts(second) == ["◀ Newer"]


async def _pending_question(session: AsyncSession) -> str | None:
    """The conversation step the bot waits in, if any (kept in the database)."""
    states = select(ConversationState.state).where(col(ConversationState.state).is_not(None))
    return (await session.exec(states)).first()


async def test_settings_change_a_typed_value_and_hint_at_a_bad_one(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, anna, _ = await _alpha(session)
    assert text_of(await bot.say(anna.telegram_id, "/settings")) == REFUSAL
    shown = await bot.say(maria.telegram_id, "/settings")
    assert "Claim window: 15m" in text_of(shown).splitlines()
    assert "Managers' chat: —" in text_of(shown).splitlines()
    asked = await bot.press(maria.telegram_id, shown, "Claim window")
    assert text_of(asked).startswith("Claim window now: 15m\nHow long a rep has to claim")
    photo = photo_message(maria.telegram_id, bot.standin.upload_user_file(tiny_png()))
    nudged = await bot.send(photo, maria.telegram_id)
    assert text_of(nudged).startswith("Send the new value as text. How long a rep has")

    hint = await bot.say(maria.telegram_id, "soon")
    assert text_of(hint).startswith("⚠️ “soon” does not fit. How long a rep has to claim")
    await session.refresh(team)
    assert team.claim_window_seconds == 15 * 60

    saved = await bot.say(maria.telegram_id, "20m")
    assert text_of(saved).startswith("✅ Saved: Claim window is now 20m.")
    await session.refresh(team)
    assert team.claim_window_seconds == 20 * 60
    change = (await session.exec(select(AuditEntry).where(AuditEntry.entity == "team"))).all()
    assert (change[-1].action, change[-1].channel, change[-1].actor_id) == (
        "update",
        "bot",
        maria.id,
    )
    # The question is answered: a later message is not taken for a setting.
    assert await _pending_question(session) is None


async def test_settings_chosen_from_buttons_and_leaving_a_question(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, maria, _, _ = await _alpha(session)
    shown = await bot.say(maria.telegram_id, "/settings")
    asked = await bot.press(maria.telegram_id, shown, "Industry preset")
    assert button_texts(asked) == [
        "Generic",
        "Home renovation",
        "Real estate",
        "Used cars",
        "◀ Back",
    ]
    saved = await bot.press(maria.telegram_id, asked, "Real estate")
    assert text_of(saved).startswith("✅ Saved: Industry preset is now Real estate.")
    await session.refresh(team)
    assert team.preset == "real-estate"

    await bot.press(maria.telegram_id, saved, "Stale after")
    assert await _pending_question(session) == "SettingsFlow:value"
    helped = await bot.say(maria.telegram_id, "/help")  # a command leaves the question
    assert text_of(helped).startswith("What I can do")
    assert await _pending_question(session) is None
    await bot.press(maria.telegram_id, saved, "Stale after")
    assert text_of(await bot.say(maria.telegram_id, "/cancel")).startswith("Cancelled.")
    await session.refresh(team)
    assert team.stale_days == 30
