"""Amounts of money as people type them: `2m`, `500k`, `1 200 000`, `1,5m`."""

import re
from decimal import Decimal, InvalidOperation

from core.errors import InvalidInput

_MULTIPLIERS = {
    "": 1,
    "k": 1_000,
    "к": 1_000,
    "тыс": 1_000,
    "m": 1_000_000,
    "м": 1_000_000,
    "млн": 1_000_000,
    "万": 10_000,
    "w": 10_000,
}
_AMOUNT = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([a-zа-я万]*)$")
MAX_AMOUNT = Decimal("100000000000000")


def parse_amount(text: str) -> Decimal:
    """A positive amount; refuses anything negative, zero, or not a number."""
    compact = re.sub(r"[\s\u00a0\u202f_']", "", text.strip().lower())
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", compact):
        compact = compact.replace(",", "")  # 1,200,000 is thousands, 1,5 is a decimal comma
    match = _AMOUNT.match(compact)
    if not match or match.group(2) not in _MULTIPLIERS:
        raise InvalidInput(f"{text!r} is not an amount such as 250000, 500k or 2m", code="amount")
    try:
        value = Decimal(match.group(1).replace(",", ".")) * _MULTIPLIERS[match.group(2)]
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount", code="amount") from None
    if value <= 0 or value >= MAX_AMOUNT:
        raise InvalidInput(f"{text!r} must be above zero", code="amount_range")
    return value
