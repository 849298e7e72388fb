"""The lead card: one message with the essentials and the buttons to work the lead."""

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import formatting
from bot.callbacks import Claim, LeadAction
from bot.rendering import Rendered, markup
from bot.texts import (
    channel_label,
    field_label,
    quote,
    score_factor_label,
    source_label,
    stage_label,
    state_label,
)
from core.leads import Card
from core.masking import contact_shown
from core.models import LeadState
from core.pipelines import preset


def card_text(card: Card, *, now: datetime, zone: ZoneInfo) -> str:
    lead = card.lead
    lines = [f"<b>{quote(lead.name)}</b> · #{lead.id}"]
    phone, email = contact_shown(lead)
    if phone:
        flag = "" if lead.phone_valid else " " + _("(number not in service?)")
        lines.append(f"📞 {phone}{flag}")
    if email:
        lines.append(f"✉️ {quote(email)}")
    status = _("Stage: <b>{stage}</b> · {state}").format(
        stage=stage_label(lead.stage), state=state_label(lead.state)
    )
    lines.append(status)
    lines.append(_grade_line(card))
    if lead.budget is not None:
        lines.append(
            _("Budget: {amount}").format(
                amount=formatting.money(lead.budget, lead.budget_currency or card.team.currency)
            )
        )
    owner = quote(card.owner.display_name) if card.owner else "—"
    lines.append(
        _("Source: {source} · Owner: {owner}").format(
            source=quote(source_label(lead.source)), owner=owner
        )
    )
    if card.tags:
        lines.append(" ".join(f"#{quote(tag)}" for tag in card.tags))
    lines.extend(_profile_lines(card))
    lines.extend(_course_lines(card, now=now, zone=zone))
    return "\n".join(lines)


def _grade_line(card: Card) -> str:
    """The grade and why: each scoring factor that gave points."""
    why = ", ".join(
        f"{score_factor_label(factor)} +{points}" for factor, points in card.score.reasons
    )
    return _("Grade {grade} ({points} points): {why}").format(
        grade=card.score.grade, points=card.score.points, why=why or "—"
    )


def _profile_lines(card: Card) -> list[str]:
    fields = preset(card.team.preset).profile_fields
    return [
        f"{field_label(field)}: {quote(str(card.lead.profile[field]))}"
        for field in fields
        if card.lead.profile.get(field) not in (None, "")
    ]


def _course_lines(card: Card, *, now: datetime, zone: ZoneInfo) -> list[str]:
    lines = []
    if card.last_activity is not None:
        last = card.last_activity
        lines.append(
            _("Last touch: {channel}, {when}").format(
                channel=channel_label(last.channel), when=formatting.relative(last.created_at, now)
            )
            + (f" — {quote(last.summary)}" if last.summary else "")
        )
    if card.next_task is not None:
        task = card.next_task
        overdue = "⚠️ " if task.due_at < now else ""
        lines.append(
            overdue
            + _("Next: {title} — {when} ({moment})").format(
                title=quote(task.title),
                when=formatting.relative(task.due_at, now),
                moment=formatting.moment(task.due_at, zone),
            )
        )
    if card.attachments:
        lines.append(_("📎 Files: {count}").format(count=card.attachments))
    if card.lead.state == LeadState.ARCHIVED and card.lead.lost_reason:
        lines.append(_("Lost: {reason}").format(reason=quote(card.lead.lost_reason)))
    return lines


def card_keyboard(card: Card) -> InlineKeyboardMarkup | None:
    lead_id = card.lead.id or 0
    keyboard = InlineKeyboardBuilder()

    def button(text: str, action: str) -> None:
        keyboard.button(text=text, callback_data=LeadAction(action=action, lead_id=lead_id))

    if card.claimable:
        keyboard.button(text=_("✋ Claim"), callback_data=Claim(lead_id=lead_id))
    if card.editable and card.lead.state == LeadState.ARCHIVED:
        button(_("🔄 Reopen"), "reopen")
    elif card.editable:
        button(_("📝 Follow-up"), "followup")
        button(_("➡️ Stage"), "stage")
        button(_("🏷 Tag"), "tag")
        button(_("⏰ Task"), "task")
        button(_("✏️ Edit"), "edit")
        button(_("📎 Attach"), "attach")
        if card.lead.phone_e164 and card.lead.state == LeadState.OWNED:
            button(_("📞 Call"), "call")
        button(_("↩️ To pool"), "release")
        button(_("✖️ Lost"), "lost")
    if card.attachments:
        button(_("🗂 Files"), "files")
    keyboard.adjust(2)
    return markup(keyboard)


def render_card(card: Card, *, now: datetime, zone: ZoneInfo) -> Rendered:
    return Rendered(card_text(card, now=now, zone=zone), card_keyboard(card))
