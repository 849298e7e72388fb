"""The lead card's buttons end to end: what each writes and what the rep sees next."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import lifecycle, tags
from core.models import Attachment, AuditEntry, Lead, LeadState, StageChange, Team, User, utcnow
from leadloop.standin import document_message, make_user, photo_message
from leadloop.standin.images import tiny_png
from tests import factories
from tests.botkit import BotUnderTest, button_texts, message_of, text_of

PHONE = "+79161234567"


async def _card(
    bot: BotUnderTest, session: AsyncSession, **fields: object
) -> tuple[Team, User, Lead, dict[str, object]]:
    """A rep, a lead of theirs, and its card as /lead shows it."""
    team = await factories.team(session, "Alpha", country="RU")
    anna = await factories.user(session, team, name="Anna")
    lead = await factories.lead(session, team, owner=anna, name="Lena", phone=PHONE, **fields)
    card = await bot.say(anna.telegram_id, f"/lead {lead.id}")
    return team, anna, lead, message_of(card)


async def test_the_card_opens_by_number_with_its_buttons(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    assert card["text"].splitlines()[:2] == [f"Lena · #{lead.id}", f"📞 {PHONE}"]
    assert [text for text in button_texts_of(card)] == [
        "📝 Follow-up",
        "➡️ Stage",
        "🏷 Tag",
        "⏰ Task",
        "✏️ Edit",
        "📎 Attach",
        "📞 Call",
        "↩️ To pool",
        "✖️ Lost",
    ]
    assert text_of(await bot.say(anna.telegram_id, "/lead")) == (
        "Which lead? Write its number: /lead 42"
    )
    assert text_of(await bot.say(anna.telegram_id, "/lead 999999")) == "Not found."


def button_texts_of(message: dict[str, object]) -> list[str]:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [button["text"] for row in rows for button in row]


async def test_stage_is_picked_from_the_pipeline_and_kept_in_history(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    picker = await bot.press(anna.telegram_id, card, "Stage")
    assert picker.method == "editMessageText"
    assert text_of(picker) == "Move Lena to which stage?"
    assert button_texts(picker) == [
        "✓ First contact",
        "Intent",
        "Invited",
        "Visited",
        "Deposit",
        "Signed",
        "Paid",
        "◀ Back",
    ]
    moved = await bot.press(anna.telegram_id, picker, "Intent")
    assert moved.method == "editMessageText"
    assert "Stage: Intent · open" in text_of(moved)
    answer = bot.standin.calls_of("answerCallbackQuery")[-1]
    assert answer.params["text"] == "Stage: Intent"
    changes = await session.exec(select(StageChange).where(StageChange.lead_id == lead.id))
    assert [(c.from_stage, c.to_stage, c.actor_id) for c in changes] == [
        ("first_contact", "intent", anna.id)
    ]
    back = await bot.press(
        anna.telegram_id, await bot.press(anna.telegram_id, moved, "Stage"), "Back"
    )
    assert text_of(back) == text_of(moved)


async def test_tags_are_added_from_text_and_removed_with_buttons(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    prompt = await bot.press(anna.telegram_id, card, "Tag")
    assert text_of(prompt) == "Send tags for Lena, e.g. #vip referral, or /cancel."
    wrong = await bot.say(anna.telegram_id, "#vip no!good")
    assert text_of(wrong) == (
        "⚠️ A tag has letters, digits, _ or - only.\nNothing was changed: send it again, or /cancel."
    )
    assert await tags.of_lead(session, lead.id or 0) == []
    saved = await bot.say(anna.telegram_id, "#vip referral")
    assert saved.method == "sendMessage"
    assert text_of(saved).startswith("🏷 Tags saved.\n\nLena")
    assert "#referral #vip" in text_of(saved)
    assert await tags.of_lead(session, lead.id or 0) == ["referral", "vip"]

    again = await bot.press(anna.telegram_id, saved, "Tag")
    assert button_texts(again) == ["✖️ #referral", "✖️ #vip", "◀ Back"]
    assert text_of(again).endswith("Tap a tag to remove it.")
    removed = await bot.press(anna.telegram_id, again, "#vip")
    assert removed.method == "editMessageText"
    assert "#referral" in text_of(removed) and "#vip" not in text_of(removed)
    assert await tags.of_lead(session, lead.id or 0) == ["referral"]
    # The step ended with the removal: text goes back to being a command or nothing.
    after = await bot.say(anna.telegram_id, "#more")
    assert text_of(after) == "I did not understand that. /help lists what I can do."


async def test_a_field_is_edited_and_the_phone_normalised(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    fields = await bot.press(anna.telegram_id, card, "Edit")
    assert text_of(fields) == "Which field of Lena do you change?"
    assert button_texts(fields) == ["Name", "Phone", "Email", "Budget", "Region", "◀ Back"]
    prompt = await bot.press(anna.telegram_id, fields, "Phone")
    assert text_of(prompt) == f"Phone of Lena now: {PHONE}\nSend the new value, or /cancel."
    wrong = await bot.say(anna.telegram_id, "12")
    assert text_of(wrong).startswith("⚠️ 12 cannot be a phone number")
    await session.refresh(lead)
    assert lead.phone_e164 == PHONE
    saved = await bot.say(anna.telegram_id, "8 (912) 345-67-89")
    assert text_of(saved).startswith("✏️ Saved.\n\nLena")
    assert "📞 +79123456789" in text_of(saved)
    await session.refresh(lead)
    assert (lead.phone_e164, lead.phone_raw) == ("+79123456789", "8 (912) 345-67-89")


async def test_a_wrong_email_or_amount_gets_a_hint_and_changes_nothing(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    prompt = await bot.press(
        anna.telegram_id, await bot.press(anna.telegram_id, card, "Edit"), "Email"
    )
    assert "now: —" in text_of(prompt)
    assert text_of(await bot.say(anna.telegram_id, "not-an-email")).startswith(
        "⚠️ That is not an email address."
    )
    saved = await bot.say(anna.telegram_id, "Lena@Example.com")
    assert "✉️ lena@example.com" in text_of(saved)
    prompt = await bot.press(
        anna.telegram_id, await bot.press(anna.telegram_id, saved, "Edit"), "Budget"
    )
    assert text_of(await bot.say(anna.telegram_id, "lots")).startswith(
        "⚠️ That is not an amount. Examples: 250000, 500k, 2m."
    )
    await session.refresh(lead)
    assert (lead.email, lead.budget) == ("lena@example.com", None)
    assert text_of(await bot.say(anna.telegram_id, "/cancel")) == "Cancelled. Nothing was changed."
    assert text_of(await bot.say(anna.telegram_id, "2m")).startswith("I did not understand")


async def test_photos_and_documents_are_kept_and_sent_back(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    prompt = await bot.press(anna.telegram_id, card, "Attach")
    assert text_of(prompt).startswith("Send a photo or a document for Lena")
    hint = await bot.say(anna.telegram_id, "here it comes")
    assert text_of(hint) == "Send a photo or a document. Or /cancel."
    photo = bot.standin.upload_user_file(tiny_png(), kind="photo")
    sender = make_user(anna.telegram_id)
    first = await bot.send(photo_message(sender, photo, caption="Kitchen"), anna.telegram_id)
    assert text_of(first).startswith("📎 Saved. Send more photos or documents, or /cancel")
    assert "📎 Files: 1" in text_of(first)
    plan = bot.standin.upload_user_file(
        b"%PDF-1.4 plan", kind="document", file_name="plan.pdf", mime_type="application/pdf"
    )
    second = await bot.send(document_message(sender, plan), anna.telegram_id)
    assert "📎 Files: 2" in text_of(second)
    done = await bot.say(anna.telegram_id, "/cancel")
    assert text_of(done) == "Done: the files you sent are kept."

    rows = (
        await session.exec(
            select(Attachment).where(Attachment.lead_id == lead.id).order_by(col(Attachment.id))
        )
    ).all()
    assert [(r.kind, r.file_id, r.file_unique_id, r.file_name, r.caption) for r in rows] == [
        ("photo", photo[-1]["file_id"], photo[-1]["file_unique_id"], None, "Kitchen"),
        ("document", plan["file_id"], plan["file_unique_id"], "plan.pdf", None),
    ]
    assert all(row.uploaded_by_id == anna.id for row in rows)

    since = bot.mark()
    await bot.press(anna.telegram_id, second, "Files")
    sent_photo = await bot.shown(anna.telegram_id, since=since, method="sendPhoto")
    sent_doc = await bot.shown(anna.telegram_id, since=since, method="sendDocument")
    assert (sent_photo.params["photo"], text_of(sent_photo)) == (photo[-1]["file_id"], "Kitchen")
    assert (sent_doc.params["document"], text_of(sent_doc)) == (plan["file_id"], "plan.pdf")


async def test_call_sends_the_bare_number_and_leaves_the_card(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, _lead, card = await _card(bot, session)
    since = bot.mark()
    number = await bot.press(anna.telegram_id, card, "Call")
    assert (number.method, text_of(number)) == ("sendMessage", PHONE)
    assert not [call for call in bot.standin.calls[since:] if call.method == "editMessageText"]


async def test_release_asks_why_and_hands_the_lead_to_the_pool(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    prompt = await bot.press(anna.telegram_id, card, "To pool")
    assert text_of(prompt) == "Why does Lena go back to the pool? Write the reason, or /cancel."
    released = await bot.say(anna.telegram_id, "Moved to another city")
    assert text_of(released).startswith("↩️ Back in the pool.\n\nLena")
    assert "· in the pool" in text_of(released)
    assert "📞 +7 916 *** ** 67" in text_of(released)
    await session.refresh(lead)
    assert (lead.state, lead.owner_id) == (LeadState.POOL, None)
    entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "release"))).one()
    assert entry.after and entry.after["reason"] == "Moved to another city"


async def test_lost_with_a_quick_reason_then_reopened(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    reasons = await bot.press(anna.telegram_id, card, "Lost")
    assert text_of(reasons) == "Why is Lena lost?"
    assert button_texts(reasons) == [
        "Price",
        "Chose a competitor",
        "Not reachable",
        "No longer needed",
        "Other…",
        "◀ Back",
    ]
    closed = await bot.press(anna.telegram_id, reasons, "Chose a competitor")
    assert closed.method == "editMessageText"
    assert "Lost: Chose a competitor" in text_of(closed)
    assert button_texts(closed) == ["🔄 Reopen"]
    await session.refresh(lead)
    assert (lead.state, lead.lost_reason) == (LeadState.ARCHIVED, "Chose a competitor")
    reopened = await bot.press(anna.telegram_id, closed, "Reopen")
    assert "Stage: First contact · open" in text_of(reopened)
    await session.refresh(lead)
    assert (lead.state, lead.lost_reason, lead.owner_id) == (LeadState.OWNED, None, anna.id)


async def test_lost_with_a_typed_reason(bot: BotUnderTest, session: AsyncSession) -> None:
    _team, anna, lead, card = await _card(bot, session)
    reasons = await bot.press(anna.telegram_id, card, "Lost")
    prompt = await bot.press(anna.telegram_id, reasons, "Other")
    assert text_of(prompt) == "Write why Lena is lost, or /cancel."
    closed = await bot.say(anna.telegram_id, "Bought a flat <b>elsewhere</b>")
    assert text_of(closed).startswith("✖️ Marked lost.\n\nLena")
    assert "Lost: Bought a flat <b>elsewhere</b>" in text_of(closed)
    await session.refresh(lead)
    assert (lead.state, lead.lost_reason) == (
        LeadState.ARCHIVED,
        "Bought a flat <b>elsewhere</b>",
    )


async def test_a_command_in_the_middle_of_a_step_leaves_it(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    await bot.press(anna.telegram_id, card, "To pool")
    listing = await bot.say(anna.telegram_id, "/leads")
    assert text_of(listing).startswith("📋 Your leads: 1 lead")
    stray = await bot.say(anna.telegram_id, "no reason")
    assert text_of(stray).startswith("I did not understand")
    await session.refresh(lead)
    assert lead.state == LeadState.OWNED
    # A photo where text is expected gets a hint.
    await bot.press(anna.telegram_id, card, "Tag")
    photo = bot.standin.upload_user_file(tiny_png(), kind="photo")
    hint = await bot.send(photo_message(make_user(anna.telegram_id), photo), anna.telegram_id)
    assert text_of(hint) == "Send tags as text, e.g. #vip referral. Or /cancel."


async def test_many_files_come_a_batch_at_a_time_and_unknown_ones_are_reported(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, _card_message = await _card(bot, session)
    photo = bot.standin.upload_user_file(tiny_png(), kind="photo")[-1]
    for number in range(11):
        session.add(
            Attachment(
                lead_id=lead.id or 0,
                kind="photo",
                file_id=photo["file_id"],
                file_unique_id=photo["file_unique_id"],
                caption=f"<i>{number}</i>",
            )
        )
    session.add(
        Attachment(lead_id=lead.id or 0, kind="document", file_id="gone", file_unique_id="gone")
    )
    await session.commit()
    card = await bot.say(anna.telegram_id, f"/lead {lead.id}")
    assert "📎 Files: 12" in text_of(card)
    since = bot.mark()
    await bot.press(anna.telegram_id, card, "Files")
    more = await bot.shown(anna.telegram_id, since=since, method="sendMessage")
    photos = [call for call in bot.standin.calls[since:] if call.method == "sendPhoto"]
    assert [text_of(call) for call in photos] == [f"<i>{n}</i>" for n in range(10)]
    assert (text_of(more), button_texts(more)) == ("2 more files", ["Show more"])
    since = bot.mark()
    await bot.press(anna.telegram_id, more, "Show more")
    answer = await bot.standin.wait_for_call("answerCallbackQuery", since=since)
    assert answer.params["text"] == "1 file could not be sent."
    assert [c.method for c in bot.standin.calls[since:] if c.method.startswith("send")] == [
        "sendPhoto",
        "sendDocument",
    ]


async def test_a_step_ends_when_the_lead_changed_meanwhile(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    _team, anna, lead, card = await _card(bot, session)
    await bot.press(anna.telegram_id, card, "To pool")
    await lifecycle.mark_lost(
        session, actor=anna, lead_id=lead.id or 0, reason="Price", now=utcnow()
    )
    refused = await bot.say(anna.telegram_id, "Moving away")
    assert text_of(refused) == "Only an open lead can go to the pool."
    assert text_of(await bot.say(anna.telegram_id, "Moving away")).startswith(
        "I did not understand"
    )
    await session.refresh(lead)
    assert (lead.state, lead.owner_id) == (LeadState.ARCHIVED, anna.id)


async def test_the_card_says_why_the_lead_has_its_grade(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    *_, card = await _card(
        bot, session, source="referral", budget=2_000_000, last_touch_at=utcnow()
    )
    grade_line = next(line for line in str(card["text"]).splitlines() if line.startswith("Grade"))
    assert grade_line == "Grade A (60 points): source +20, budget known +25, recent contact +15"
