"""What a person reads when core says no: each error code in their language."""

from aiogram.utils.i18n import gettext as _

from bot.texts import quote
from core.errors import DomainError


def explain(error: DomainError) -> str:
    """The refusal as a short sentence; the parameters a person typed are escaped."""
    phone = quote(str(error.params.get("phone", "")))
    messages = {
        "lead_not_found": _("Not found."),
        "task_not_found": _("Not found."),
        "user_not_found": _("There is no active member of your team with that id."),
        "forbidden": _("You may not change this lead."),
        "managers_only": _("Only a manager can do this."),
        "cannot_create": _("Only reps and managers of a team can enter leads."),
        "phone_impossible": _(
            "{phone} cannot be a phone number: check the number of digits."
        ).format(phone=phone),
        "phone_unparsable": _("{phone} is not a phone number.").format(phone=phone),
        "email_invalid": _("That is not an email address."),
        "no_contact": _("Give a phone or an email, so the customer can be reached."),
        "name_invalid": _("A name has 1 to 200 characters."),
        "quick_entry": _("Write the name, then the phone: /new Anna Li +7 912 345 67 89"),
        "amount": _("That is not an amount. Examples: 250000, 500k, 2m."),
        "amount_range": _("The amount must be above zero."),
        "tag": _("A tag has letters, digits, _ or - only."),
        "stage_unknown": _("That stage is not in your pipeline."),
        "field_unknown": _("That field does not exist."),
        "value_length": _("A value has 1 to 200 characters."),
        "reason_invalid": _("Give a reason of 1 to 500 characters."),
        "not_open": _("Only an open lead can go to the pool."),
        "already_closed": _("This lead is closed already."),
        "not_lost": _("Only a lost lead can be reopened."),
        "due": _("That is not a date. Examples: 2026-12-01, 01.12 15:30."),
        "due_past": _("The due time must be in the future."),
        "task_title": _("A task needs a title."),
        "followup_invalid": _("Pick one of the buttons."),
        "same_lead": _("Pick two different leads."),
        "duration": _("That is not a duration. Examples: 15m, 1h, 2d."),
        "locale": _("That language is not available."),
        "already_claimed": _("Someone else took this lead first."),
        "offer_expired": _("The time to claim this lead has run out."),
        "cooling_down": _("You let this lead go recently: wait a little before claiming it again."),
        "cap_reached": _("You have as many open leads as your team allows. Close some first."),
        "invite_invalid": _(
            "This invitation link is unknown, used or expired. Ask your manager for a new one."
        ),
    }
    return messages.get(
        error.code, _("That did not work: {reason}").format(reason=quote(str(error)))
    )


def try_again(error: DomainError) -> str:
    """A typed answer refused: why, and that the same step waits for another try."""
    return _("⚠️ {problem}\nNothing was changed: send it again, or /cancel.").format(
        problem=explain(error)
    )
