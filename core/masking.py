"""Showing that a customer exists without showing who they are."""

import phonenumbers

from core.models import Lead, LeadState


def mask_phone(e164: str | None) -> str:
    """`+79123456789` → `+7 912 *** ** 89`: country, first and last digits only."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "***"
    return mask_number(number)


def mask_number(number: phonenumbers.PhoneNumber) -> str:
    """A number already parsed, masked as `mask_phone` masks it."""
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code} "
    national = shown.removeprefix(prefix).replace("-", " ")
    digits_seen = 0
    total = sum(char.isdigit() for char in national)
    masked = []
    for char in national:
        if char.isdigit():
            digits_seen += 1
            keep = digits_seen <= 3 or digits_seen > total - 2
            masked.append(char if keep else "*")
        else:
            masked.append(char)
    return prefix + "".join(masked)


def mask_email(email: str | None) -> str:
    """`lena@example.com` → `l***@example.com`."""
    if not email or "@" not in email:
        return ""
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """`Anna Li` → `A*** L***`: initials only."""
    return " ".join(f"{word[:1]}***" for word in name.split()) or "***"


def contact_shown(lead: Lead) -> tuple[str, str]:
    """The lead's phone and email as anyone may see them: masked until someone claims it."""
    if lead.state in (LeadState.POOL, LeadState.OFFERED):
        return mask_phone(lead.phone_e164), mask_email(lead.email)
    return lead.phone_e164 or "", lead.email or ""
