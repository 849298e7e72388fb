"""Follow-ups, tasks and /today end to end: the questions a rep sees, the rows the answers write."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Activity, Lead, LeadState, Task, Team, User, utcnow
from tests import factories
from tests.botkit import BotUnderTest, button_texts, message_of, text_of

MOSCOW = ZoneInfo("Europe/Moscow")
CHANNEL_BUTTONS = ["📞 Call", "🏠 Visit", "💬 Chat", "🤝 Meeting", "◀ Back"]
DUE_BUTTONS = ["In 1 hour", "Tomorrow 10:00\u202fAM", "In 3 days", "📅 Pick a date", "◀ Back"]


async def _rep_with_lead(
    bot: BotUnderTest, session: AsyncSession
) -> tuple[Team, User, Lead, dict[str, object]]:
    team = await factories.team(session, "Alpha", country="RU", timezone="Europe/Moscow")
    anna = await factories.user(session, team, name="Anna")
    lead = await factories.lead(session, team, owner=anna, name="Lena")
    card = await bot.say(anna.telegram_id, f"/lead {lead.id}")
    return team, anna, lead, message_of(card)


def _tomorrow_at_ten() -> datetime:
    day = utcnow().astimezone(MOSCOW).date() + timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=MOSCOW)


def _task(lead: Lead, assignee: User, title: str, due: datetime) -> Task:
    return Task(
        lead_id=lead.id, assignee_id=assignee.id, title=title, due_at=due, created_at=utcnow()
    )


async def _activities(session: AsyncSession, lead: Lead) -> list[Activity]:
    rows = await session.exec(select(Activity).where(Activity.lead_id == lead.id))
    return list(rows.all())


async def _tasks(session: AsyncSession, lead: Lead) -> list[Task]:
    rows = await session.exec(select(Task).where(Task.lead_id == lead.id).order_by(col(Task.id)))
    return list(rows.all())


async def test_a_follow_up_with_a_next_step_logs_the_touch_and_plans_a_task(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _rep_with_lead(bot, session)
    uid = anna.telegram_id
    channels = await bot.press(uid, card, "Follow-up")
    assert text_of(channels) == "📝 Follow-up with Lena: how did you talk?"
    assert button_texts(channels) == CHANNEL_BUTTONS
    summary = await bot.press(uid, channels, "Call")
    assert text_of(summary) == "📞 Call with Lena. What came of it? A line or two, please."
    assert button_texts(summary) == ["Skip", "◀ Back"]
    intent = await bot.say(uid, "Liked the estimate, wants <b>tiles</b>")
    assert text_of(intent) == "How keen is the customer now?"
    assert button_texts(intent) == ["⬆️ Warmer", "➡️ Same", "⬇️ Colder", "◀ Back"]
    next_step = await bot.press(uid, intent, "Warmer")
    assert text_of(next_step) == "What is the next step? Write it, e.g. send the estimate."
    assert button_texts(next_step) == ["✅ No next step", "◀ Back"]
    due = await bot.say(uid, "Send the contract")
    assert text_of(due) == (
        "When: Send the contract? Tap a time, or write a date such as 05.12 15:30."
    )
    assert button_texts(due) == DUE_BUTTONS
    saved = await bot.press(uid, due, "Tomorrow 10:00\u202fAM")
    assert saved.method == "editMessageText"
    assert text_of(saved).startswith("✅ Follow-up logged. Next: Send the contract, ")
    assert "Last touch: 📞 Call, " in text_of(saved)
    assert "Liked the estimate, wants <b>tiles</b>" in text_of(saved)
    assert "Next: Send the contract — in " in text_of(saved)
    assert "📝 Follow-up" in button_texts(saved)

    [activity] = await _activities(session, lead)
    assert (activity.channel, activity.intent, activity.actor_id) == ("call", "up", anna.id)
    assert activity.summary == "Liked the estimate, wants <b>tiles</b>"
    assert activity.next_step == "Send the contract"
    [task] = await _tasks(session, lead)
    assert task.title == "Send the contract"
    assert task.assignee_id == anna.id
    assert task.due_at == _tomorrow_at_ten()
    await session.refresh(lead)
    assert lead.next_action_at == _tomorrow_at_ten()
    assert lead.last_touch_at is not None


async def test_a_follow_up_without_summary_or_next_step_writes_no_task(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _rep_with_lead(bot, session)
    uid = anna.telegram_id
    summary = await bot.press(uid, await bot.press(uid, card, "Follow-up"), "Visit")
    intent = await bot.press(uid, summary, "Skip")
    assert text_of(intent) == "How keen is the customer now?"
    next_step = await bot.press(uid, intent, "Same")
    saved = await bot.press(uid, next_step, "No next step")
    assert text_of(saved).startswith("✅ Follow-up logged.\n\nLena · #")
    [activity] = await _activities(session, lead)
    assert (activity.channel, activity.summary, activity.intent) == ("visit", "", "same")
    assert activity.next_step is None
    assert await _tasks(session, lead) == []


async def test_a_task_is_scheduled_for_a_picked_day_or_a_typed_date(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _rep_with_lead(bot, session)
    uid = anna.telegram_id
    question = await bot.press(uid, card, "Task")
    assert text_of(question) == "⏰ What is to be done for Lena? Write it, e.g. call back."
    due = await bot.say(uid, "Call back")
    days = await bot.press(uid, due, "Pick a date")
    assert text_of(days) == (
        "Which day? It is set for 10:00\u202fAM; write a date and time for another hour."
    )
    assert len(button_texts(days)) == 14 + 1
    saved = await bot.press(uid, days, lambda text: text == button_texts(days)[0])
    assert text_of(saved).startswith("⏰ Task set: Call back, ")
    [task] = await _tasks(session, lead)
    assert (task.title, task.due_at) == ("Call back", _tomorrow_at_ten())

    card = message_of(saved)
    await bot.press(uid, card, "Task")
    await bot.say(uid, "Bring samples")
    refused = await bot.say(uid, "someday")
    assert text_of(refused) == (
        "⚠️ That is not a date. Examples: 2026-12-01, 01.12 15:30.\n"
        "Nothing was changed: send it again, or /cancel."
    )
    in_three_days = utcnow().astimezone(MOSCOW) + timedelta(days=3)
    typed = await bot.say(uid, in_three_days.strftime("%d.%m") + " 15:30")
    assert text_of(typed).startswith("⏰ Task set: Bring samples, ")
    tasks = await _tasks(session, lead)
    assert [task.title for task in tasks] == ["Call back", "Bring samples"]
    expected = datetime.combine(in_three_days.date(), time(15, 30), tzinfo=MOSCOW)
    assert tasks[1].due_at == expected
    await session.refresh(lead)
    assert lead.next_action_at == _tomorrow_at_ten()


async def test_wrong_answers_get_hints_and_old_buttons_change_nothing(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _rep_with_lead(bot, session)
    uid = anna.telegram_id
    channels = await bot.press(uid, card, "Follow-up")
    hint = await bot.say(uid, "it went well")
    assert text_of(hint) == "Tap one of the buttons above. Or /cancel."
    await bot.press(uid, channels, "Chat")
    intent_question = await bot.say(uid, "Asked for a discount")
    assert text_of(await bot.say(uid, "maybe")) == "Tap one of the buttons above. Or /cancel."
    assert text_of(await bot.say(uid, "/cancel")) == "Cancelled. Nothing was changed."
    stale = await bot.press(uid, intent_question, "Warmer")
    assert stale.method == "answerCallbackQuery"
    assert stale.params["text"] == "That question is closed. Open the card and start again."
    assert stale.params["show_alert"] is True
    assert await _activities(session, lead) == []


async def test_another_reps_lead_cannot_get_a_follow_up_or_task(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna, _lead, card = await _rep_with_lead(bot, session)
    boris = await factories.user(session, team, name="Boris")
    his = await factories.lead(session, team, owner=boris, name="Oleg")
    for action in ("followup", "task", "fu_channel"):
        forged = await bot.press_data(anna.telegram_id, card, f"l:{action}:{his.id}:call")
        assert forged.method == "answerCallbackQuery"
        assert forged.params["text"] == "Not found."
    assert await _activities(session, his) == []
    assert await _tasks(session, his) == []


async def test_today_lists_overdue_and_later_tasks_and_offers_and_marks_tasks_done(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna, lead, _card = await _rep_with_lead(bot, session)
    now = utcnow()
    late = _task(lead, anna, "Send photos", now - timedelta(hours=2))
    soon = _task(lead, anna, "Call back", now + timedelta(minutes=1))
    later = _task(lead, anna, "Visit the site", now + timedelta(days=2))
    session.add_all([late, soon, later])
    offered = await factories.lead(
        session,
        team,
        owner=anna,
        name="Pavel",
        state=LeadState.OFFERED,
        claim_deadline=now + timedelta(minutes=10),
    )
    await session.commit()

    agenda = await bot.say(anna.telegram_id, "📅 Today")
    lines = text_of(agenda).splitlines()
    assert lines[0].startswith("📅 Today, ")
    assert lines[1:4] == ["", "⚠️ Overdue", f"• Send photos — Lena (#{lead.id}), 2 hours ago"]
    assert "🕘 Later today" in lines
    assert any(line.startswith("• Call back — Lena") for line in lines)
    assert "Visit the site" not in text_of(agenda)
    assert "✋ Waiting for your claim" in lines
    assert f"• Pavel (#{offered.id}): claim it in 10 minutes" in lines
    assert button_texts(agenda) == [
        "✅ Send photos",
        "📇 Lena",
        "✅ Call back",
        "📇 Lena",
        "✋ Claim Pavel",
    ]

    done = await bot.press(anna.telegram_id, agenda, "✅ Send photos")
    assert done.method == "editMessageText"
    assert "Send photos" not in text_of(done)
    answer = bot.standin.calls_of("answerCallbackQuery")[-1]
    assert answer.params["text"] == "✅ Done: Send photos"
    await session.refresh(late)
    assert late.done_at is not None

    opened = await bot.press(anna.telegram_id, done, "📇 Lena")
    assert text_of(opened).startswith(f"Lena · #{lead.id}")


async def test_today_puts_the_most_promising_overdue_lead_first(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna, lena, _card = await _rep_with_lead(bot, session)
    oleg = await factories.lead(session, team, owner=anna, name="Oleg", grade="A")
    lena.grade = "C"
    now = utcnow()
    session.add_all(
        [
            _task(lena, anna, "Send photos", now - timedelta(days=2)),
            _task(oleg, anna, "Send the quote", now - timedelta(hours=1)),
            _task(lena, anna, "Call back", now + timedelta(minutes=5)),
            _task(oleg, anna, "Confirm the visit", now + timedelta(minutes=2)),
        ]
    )
    await session.commit()

    agenda = await bot.say(anna.telegram_id, "/today")
    tasks = [line.split(" — ")[0] for line in text_of(agenda).splitlines() if line.startswith("•")]
    # Overdue: the A lead before the C lead that waits longer; later today: by the clock.
    assert tasks == ["• Send the quote", "• Send photos", "• Confirm the visit", "• Call back"]


async def test_today_is_calm_when_nothing_is_due_and_refuses_foreign_tasks(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team, anna, _lead, card = await _rep_with_lead(bot, session)
    agenda = await bot.say(anna.telegram_id, "/today")
    assert text_of(agenda).splitlines()[1] == "Nothing due today. /leads shows all your leads."
    boris = await factories.user(session, team, name="Boris")
    his = await factories.lead(session, team, owner=boris, name="Oleg")
    now = utcnow()
    task = _task(his, boris, "Secret", now)
    session.add(task)
    await session.commit()
    forged = await bot.press_data(anna.telegram_id, card, f"t:done:{task.id}")
    assert forged.params["text"] == "Not found."
    await session.refresh(task)
    assert task.done_at is None


async def test_a_long_agenda_stays_within_one_message(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, _card = await _rep_with_lead(bot, session)
    now = utcnow()
    due = now - timedelta(hours=1)
    session.add_all(_task(lead, anna, f"{n:02d} " + "call back " * 40, due) for n in range(60))
    await session.commit()
    agenda = await bot.say(anna.telegram_id, "/today")
    text = text_of(agenda)
    assert len(text) <= 4096
    shown = sum(line.startswith("• ") for line in text.splitlines())
    assert 10 <= shown < 60
    assert text.splitlines()[-1] == f"…and {60 - shown} more."
    assert len(button_texts(agenda)) == 2 * min(shown, 15)
