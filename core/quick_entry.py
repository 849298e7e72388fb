"""The one-line lead: `/new <name> <phone> [budget <amount>] [#tag …]`.

The name is the words before the phone; an email may stand in for the phone, or follow it.
Words after those that are neither a budget nor a tag are kept as a comment.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from core.errors import InvalidInput
from core.money import parse_amount

_BUDGET_WORDS = {"budget", "бюджет", "预算"}
_PHONE_START = re.compile(r"^[+＋(（]?[\d０-９]")
_PHONE_PART = re.compile(r"^[\d０-９()（）+＋\-–.]+$")


@dataclass
class QuickEntry:
    name: str
    phone: str | None = None
    email: str | None = None
    budget: Decimal | None = None
    tags: list[str] = field(default_factory=list)
    comment: str | None = None


def parse_quick_entry(text: str) -> QuickEntry:
    words = text.split()
    start = next((i for i, word in enumerate(words) if _contact_word(word)), None)
    if start is None or start == 0:
        raise InvalidInput(
            "write the name, then the phone: /new Anna Li +7 912 345 67 89", code="quick_entry"
        )
    entry = QuickEntry(name=" ".join(words[:start]))
    rest = _take_contacts(entry, words[start:])
    leftovers = _take_extras(entry, rest)
    entry.comment = " ".join(leftovers) or None
    return entry


def _contact_word(word: str) -> bool:
    return "@" in word[1:] or bool(_PHONE_START.match(word))


def _take_contacts(entry: QuickEntry, words: list[str]) -> list[str]:
    phone_parts: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if "@" in word[1:] and entry.email is None:
            entry.email = word
        elif _PHONE_PART.match(word) and (phone_parts or _PHONE_START.match(word)):
            phone_parts.append(word)
        else:
            break
        index += 1
    entry.phone = " ".join(phone_parts) or None
    return words[index:]


def _take_extras(entry: QuickEntry, words: list[str]) -> list[str]:
    leftovers: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.lower() in _BUDGET_WORDS and index + 1 < len(words):
            entry.budget = parse_amount(words[index + 1])
            index += 2
            continue
        if word.startswith("#") and len(word) > 1:
            entry.tags.append(word[1:].lower())
        else:
            leftovers.append(word)
        index += 1
    return leftovers
