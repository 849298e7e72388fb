"""Normalising how customers can be reached: phones to E.164, emails to one spelling.

phonenumbers (Google's libphonenumber port) decides; it also reads full-width digits and
national formats such as `8 (912) 345-67-89` given the team's country as the default region.
"""

import re
from dataclasses import dataclass

import phonenumbers

from core.errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The longest address mail can be sent to (RFC 5321), and the length of the leads' column.
EMAIL_CHARS = 254


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str
    #: False when the number is possible (right length) but not assigned to any real carrier.
    valid: bool
    #: The number as parsed: what is shown of it is worked out without parsing it again.
    number: phonenumbers.PhoneNumber


def normalize_phone(raw: str, region: str) -> Phone:
    """Parse a phone as a person typed it; refuse it only when it cannot possibly be a number."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            f"{raw!r} is not a phone number", code="phone_unparsable", phone=raw
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(
            f"{raw!r} cannot be a phone number (wrong number of digits)",
            code="phone_impossible",
            phone=raw,
        )
    number.extension = None  # E.164 has none: neither has what is shown of the number
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(raw=text, e164=e164, valid=phonenumbers.is_valid_number(number), number=number)


def normalize_email(raw: str) -> str:
    """Lower-case and trim an email address; refuse what is plainly not one."""
    email = raw.strip().lower()
    if len(email) > EMAIL_CHARS or not _EMAIL.match(email):
        raise InvalidInput(f"{raw!r} is not an email address", code="email_invalid", email=raw)
    return email


def is_supported_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


#: Longest name or typed field value kept on a lead.
VALUE_CHARS = 200


def clean_name(text: str) -> str:
    """A customer's name as typed, trimmed; refused when empty or too long."""
    name = text.strip()
    if not name or len(name) > VALUE_CHARS:
        raise InvalidInput("a name has 1 to 200 characters", code="name_invalid")
    return name


def clean_value(text: str) -> str:
    """A field's value as typed, trimmed; refused when empty or too long."""
    value = text.strip()
    if not value or len(value) > VALUE_CHARS:
        raise InvalidInput("a value has 1 to 200 characters", code="value_length")
    return value
