"""What a delivery's items become before they are leads: text a database can hold, contacts
normalised (one usable contact is enough), values cut to their columns, a name to show."""

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any, TypeVar

from core.contacts import Phone, normalize_email, normalize_phone
from core.errors import InvalidInput
from core.mapping import Inbound
from core.masking import mask_email, mask_number
from core.models import Lead, Team

_LEADS = Lead.__table__  # type: ignore[attr-defined]
_Contact = TypeVar("_Contact")


@dataclass(frozen=True)
class Person:
    """An item that can be a lead: its usable contacts normalised."""

    inbound: Inbound
    phone: Phone | None
    email: str | None
    #: Its place among the delivery's items (from 0): a batch's items may be keyed one by one.
    item: int = 0


def storable(inbound: Inbound) -> Inbound:
    """The fields as a database can hold them.

    A NUL or a lone surrogate (JSON's `\\ud800`) would fail every write of the lead, and so
    every retry of the delivery.
    """
    values = {field.name: getattr(inbound, field.name) for field in fields(inbound)}
    return replace(inbound, **{name: storable_text(value) for name, value in values.items()})


def storable_text(value: Any) -> Any:
    """A text, or each text of a mapping, without NUL and with `?` for what UTF-8 cannot be."""
    if isinstance(value, dict):
        return {key: storable_text(text) for key, text in value.items()}
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value


def people(inbounds: list[Inbound], team: Team) -> tuple[list[Person], str | None]:
    """The items that can be leads, and which others were skipped and why (None: none was).

    A batch keeps its good items: a replay could never add the contact a bad one lacks.
    InvalidInput only when no item can be a lead.
    """
    if not inbounds:
        raise InvalidInput("the delivery holds no lead", code="no_lead", field="body")
    found: list[Person] = []
    refused: list[tuple[int, InvalidInput]] = []
    for number, inbound in enumerate(inbounds, 1):
        try:
            found.append(replace(_person(inbound, team), item=number - 1))
        except InvalidInput as error:
            refused.append((number, error))
    listed = "; ".join(f"item {number} of {len(inbounds)}: {error}" for number, error in refused)
    if found:
        return found, f"skipped {listed}" if refused else None
    first = refused[0][1]
    if len(inbounds) == 1:
        raise first
    raise InvalidInput(listed, code=first.code, **first.params)


def _person(inbound: Inbound, team: Team) -> Person:
    """The item's phone and email normalised: one usable contact is enough.

    A contact typed but unusable (`-`, `нет`, a digit short) is added to the comment as typed:
    the rep may still make sense of it.
    """
    phone, bad_phone = _usable(inbound.phone, partial(normalize_phone, region=team.country))
    email, bad_email = _usable(inbound.email, normalize_email)
    given = (("phone", inbound.phone, bad_phone), ("email", inbound.email, bad_email))
    refused = [(field, typed or "", error) for field, typed, error in given if error]
    if phone is None and email is None:
        reasons = "; ".join(str(error) for _, _, error in refused) or "no phone and no email"
        field = refused[0][0] if refused else "phone"
        raise InvalidInput(f"no way to reach the person: {reasons}", code="no_contact", field=field)
    notes = [f"{field}: {typed.strip()}" for field, typed, _ in refused]
    comment = "\n".join(filter(None, [inbound.comment, *notes])) or None
    return Person(replace(inbound, comment=comment), phone, email)


def _usable(
    typed: str | None, normalize: Callable[[str], _Contact]
) -> tuple[_Contact | None, InvalidInput | None]:
    """The contact normalised, else why it cannot be used; neither when none was typed."""
    if typed is None or not typed.strip():
        return None, None
    try:
        return normalize(typed), None
    except InvalidInput as error:
        return None, error


def fitted(**values: str | None) -> dict[str, str | None]:
    """Form values cut to their lead columns: a long city must not cost the lead."""
    return {
        name: value[: _LEADS.c[name].type.length] if value else value
        for name, value in values.items()
    }


def display_name(person: Person) -> str:
    """The form's name, else the contact masked: a name is shown before the lead is claimed."""
    name = (person.inbound.name or "").strip()
    return name or (mask_number(person.phone.number) if person.phone else mask_email(person.email))
