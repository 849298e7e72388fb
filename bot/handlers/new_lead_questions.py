"""The questions of the guided /new entry and the summary before saving: text and buttons.

The answers so far live in the conversation's data (plain JSON, kept in the database):
`name`, `phone` (as given), `e164`, `source`, `field` (the profile field being asked),
`profile` and `budget` (a Decimal as text).
"""

from decimal import Decimal
from typing import Any

from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import formatting
from bot.callbacks import Choice
from bot.rendering import Rendered
from bot.texts import field_label, quote, source_label
from core.models import Team
from core.pipelines import preset

#: Where a customer came from, as the source step offers it.
SOURCES = ("referral", "walk-in", "call", "other")
#: Choice.flow of the entry's buttons: a source, Skip (value: the field), Save or Cancel.
SOURCE_FLOW = "nlsrc"
SKIP_FLOW = "nlskip"
FLOW = "nl"
SAVE = "save"
CANCEL = "cancel"


def _keyboard() -> InlineKeyboardBuilder:
    return InlineKeyboardBuilder()


def _cancel(keyboard: InlineKeyboardBuilder) -> None:
    keyboard.button(text=_("✖️ Cancel"), callback_data=Choice(flow=FLOW, value=CANCEL))


def with_hint(hint: str, question: Rendered) -> Rendered:
    """What went wrong, then the same question again."""
    return Rendered(f"⚠️ {hint}\n\n{question.text}", question.reply_markup)


def ask_name() -> Rendered:
    keyboard = _keyboard()
    _cancel(keyboard)
    text = (
        _("➕ <b>New lead</b>\nWhat is the customer's name?")
        + "\n\n"
        + _("Tip: /new Anna Li +7 912 345 67 89 budget 2m #referral saves a lead in one message.")
    )
    return Rendered(text, keyboard.as_markup())


def ask_phone(data: dict[str, Any]) -> Rendered:
    keyboard = _keyboard()
    _cancel(keyboard)
    text = _(
        "📞 The phone number of {name}? Type it, or attach their contact card (📎 → Contact)."
    ).format(name=f"<b>{quote(data.get('name'))}</b>")
    return Rendered(text, keyboard.as_markup())


def ask_source(data: dict[str, Any]) -> Rendered:
    keyboard = _keyboard()
    for source in SOURCES:
        keyboard.button(
            text=source_label(source), callback_data=Choice(flow=SOURCE_FLOW, value=source)
        )
    _cancel(keyboard)
    keyboard.adjust(2)
    text = _("Where did {name} come from?").format(name=f"<b>{quote(data.get('name'))}</b>")
    return Rendered(text, keyboard.as_markup())


def ask_field(data: dict[str, Any], field: str) -> Rendered:
    keyboard = _keyboard()
    keyboard.button(text=_("⏭ Skip"), callback_data=Choice(flow=SKIP_FLOW, value=field))
    _cancel(keyboard)
    text = _("<b>{field}</b> of {name}? Send it, or tap Skip.").format(
        field=field_label(field), name=quote(data.get("name"))
    )
    if field == "budget":
        text += "\n" + _("For example: 250000, 500k, 2m.")
    return Rendered(text, keyboard.as_markup())


def next_field(team: Team, after: str | None) -> str | None:
    """The profile field asked after `after` (the first one after None); None: all asked."""
    fields = preset(team.preset).profile_fields
    if after is None:
        return fields[0] if fields else None
    if after not in fields:
        return None
    position = fields.index(after) + 1
    return fields[position] if position < len(fields) else None


def summary(data: dict[str, Any], team: Team) -> Rendered:
    keyboard = _keyboard()
    keyboard.button(text=_("✅ Save"), callback_data=Choice(flow=FLOW, value=SAVE))
    _cancel(keyboard)
    lines = [
        _("📝 <b>Check the new lead</b>"),
        f"{field_label('name')}: <b>{quote(data.get('name'))}</b>",
        f"{field_label('phone')}: {quote(data.get('e164') or data.get('phone'))}",
        _("Source: {source}").format(source=source_label(data.get("source"))),
    ]
    profile = data.get("profile") or {}
    for field in preset(team.preset).profile_fields:
        if field == "budget" and data.get("budget"):
            amount = formatting.money(Decimal(data["budget"]), team.currency)
            lines.append(f"{field_label(field)}: {amount}")
        elif profile.get(field):
            lines.append(f"{field_label(field)}: {quote(str(profile[field]))}")
    return Rendered("\n".join(lines), keyboard.as_markup())
