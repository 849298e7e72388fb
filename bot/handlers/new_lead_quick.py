"""Leads without questions: `/new <name> <phone> …`, a forwarded contact card; what came of it.

Whatever the way in, core.leads.capture decides: a new lead, one the rep may open already, or
someone else's customer, shown masked with a button to ask the owner and the manager.
"""

from aiogram.types import CallbackQuery, Contact, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AskOwner
from bot.menu import main_menu
from bot.rendering import Rendered
from bot.texts import quote
from bot.views import edit_or_send, send_card
from core import leads
from core.leads import Capture, NewLead
from core.models import Team, User, utcnow
from core.quick_entry import parse_quick_entry


def is_own_contact(message: Message) -> bool:
    """Telegram's "share my phone" sends the sender's own card: never the customer's number."""
    contact = message.contact
    sender = message.from_user
    return contact is not None and sender is not None and contact.user_id == sender.id


def contact_phone(contact: Contact) -> str:
    """A Telegram user's number comes as international digits, often without the plus."""
    raw = contact.phone_number.strip()
    if contact.user_id is not None and raw.isdigit():
        return "+" + raw
    # An address-book card may hold a national form: the team's country reads it.
    return raw


def contact_name(contact: Contact) -> str:
    return " ".join(part for part in (contact.first_name, contact.last_name) if part)


def own_number_hint() -> str:
    return _(
        "That is your own number, not the customer's. "
        "Type the customer's number, or attach their contact card (📎 → Contact)."
    )


def outcome_notice(result: Capture) -> Rendered:
    """The line that says what saving came to; for someone else's customer, the Ask button."""
    if result.outcome == "created":
        return Rendered(_("✅ Lead saved."))
    if result.outcome in ("yours", "visible"):
        return Rendered(_("This customer is already in LeadLoop."))
    text = _(
        "⚠️ This customer belongs to another rep.\n"
        "{name} · {phone}\n"
        "Owner: {owner}\n"
        "You cannot open this lead: ask its owner and your manager."
    ).format(
        name=quote(result.masked_name),
        phone=quote(result.masked_phone) or "—",
        owner=quote(result.masked_owner) or "—",
    )
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("🙋 Ask the owner and the manager"), callback_data=AskOwner(lead_id=result.lead_id)
    )
    return Rendered(text, keyboard.as_markup())


async def show_outcome(
    message: Message, session: AsyncSession, member: User, team: Team | None, result: Capture
) -> None:
    """As a new message (with the main menu back), then the card the rep may open."""
    notice = outcome_notice(result)
    await message.answer(notice.text, reply_markup=notice.reply_markup or main_menu(member))
    if result.outcome != "taken":
        await send_card(message, session, member, team, result.lead_id)


async def show_outcome_in_place(
    query: CallbackQuery, session: AsyncSession, member: User, team: Team | None, result: Capture
) -> None:
    """The notice replaces the message whose button was pressed; the card follows."""
    await edit_or_send(query, outcome_notice(result))
    if result.outcome != "taken" and isinstance(query.message, Message):
        await send_card(query.message, session, member, team, result.lead_id)


async def quick_entry(
    message: Message, args: str, session: AsyncSession, member: User, team: Team | None
) -> None:
    """`/new Anna Li +7 912 345 67 89 budget 2m #referral`: the rep who enters it owns it."""
    parsed = parse_quick_entry(args)
    entry = NewLead(
        name=parsed.name,
        phone=parsed.phone,
        email=parsed.email,
        source="manual",
        budget=parsed.budget,
        tags=parsed.tags,
        comment=parsed.comment,
    )
    result = await leads.capture(session, actor=member, entry=entry, now=utcnow())
    await show_outcome(message, session, member, team, result)


async def contact_card(
    message: Message, session: AsyncSession, member: User, team: Team | None
) -> None:
    """A customer's contact card sent outside any guided entry becomes a lead."""
    contact = message.contact
    assert contact is not None  # guaranteed by the F.contact filter
    if is_own_contact(message):
        await message.answer(
            _(
                "That is your own number. To add a customer, send their contact card "
                "(📎 → Contact) or use /new."
            )
        )
        return
    entry = NewLead(name=contact_name(contact), phone=contact_phone(contact), source="contact")
    result = await leads.capture(session, actor=member, entry=entry, now=utcnow())
    await show_outcome(message, session, member, team, result)


async def ask_owner(
    query: CallbackQuery, callback_data: AskOwner, session: AsyncSession, member: User
) -> None:
    """Tell the owner and the manager; core refuses a lead the rep never tried to enter."""
    await leads.ask_for_access(session, actor=member, lead_id=callback_data.lead_id, now=utcnow())
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        asked = _("✉️ You asked the owner and the manager.")
        await message.edit_text(f"{message.html_text}\n\n{asked}", reply_markup=None)
    await query.answer(_("Asked."))
