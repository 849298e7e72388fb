"""From a vendor's payload to the fields of a lead: each kind's shape, then the source's mapping.

A payload is first flattened into items (one per person) of plain `key -> text`, each with
the vendor's event id. The source's mapping then says which key is the name, phone, email,
comment, region, `utm_*` or `profile.<attribute>`; kinds have sensible defaults, and a mapping
value may be a dotted path into nested JSON (`contact.phone`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("generic", "tilda", "typeform", "meta", "tally", "google-forms")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: Where each lead field is looked for when the mapping names no key: first match wins.
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full_name", "fullname", "your-name", "имя", "姓名", "@name"),
    "phone": ("phone", "phone_number", "tel", "telephone", "mobile", "телефон", "电话", "@phone"),
    "email": ("email", "e-mail", "mail", "почта", "邮箱", "@email"),
    "comment": ("comment", "comments", "message", "text", "комментарий", "留言", "@text"),
    "region": ("region", "city", "город", "城市"),
}


@dataclass(frozen=True)
class Item:
    """One person's answers, flattened, with the vendor's id for this submission."""

    fields: dict[str, Any]
    event_id: str | None = None


@dataclass(frozen=True)
class Inbound:
    """The lead as the form described it, before normalising and dedup."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    comment: str | None = None
    region: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    profile: dict[str, str] = field(default_factory=dict)


def items(kind: str, payload: Any) -> list[Item]:
    """Split a parsed body into one item per person, the vendor's way."""
    if kind == "typeform":
        return [_typeform(payload)]
    if kind == "tally":
        return [_tally(payload)]
    if kind == "meta":
        return _meta(payload)
    entries = payload if isinstance(payload, list) else [payload]
    id_key = {"tilda": "tranid", "google-forms": "responseId"}.get(kind, "id")
    return [
        Item(dict(entry), _text(entry.get(id_key))) for entry in entries if isinstance(entry, dict)
    ]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return ", ".join(str(part) for part in value)
    return str(value)


def _typeform(payload: Mapping[str, Any]) -> Item:
    response = payload.get("form_response") or {}
    flat: dict[str, Any] = {}
    for answer in response.get("answers") or []:
        definition = answer.get("field") or {}
        value = _typeform_value(answer)
        for key in (definition.get("ref"), definition.get("id"), "@" + answer.get("type", "")):
            if key:
                flat.setdefault(key, value)
        if definition.get("type") == "short_text":
            flat.setdefault("@name", value)
    flat.update({key: value for key, value in (response.get("hidden") or {}).items()})
    return Item(flat, _text(payload.get("event_id")) or _text(response.get("token")))


def _typeform_value(answer: Mapping[str, Any]) -> Any:
    kind = answer.get("type")
    if kind == "choice":
        return (answer.get("choice") or {}).get("label")
    if kind == "choices":
        return (answer.get("choices") or {}).get("labels")
    if kind == "phone_number":
        return answer.get("phone_number")
    return answer.get(kind) if kind else None


_TALLY_TYPES = {"INPUT_EMAIL": "@email", "INPUT_PHONE_NUMBER": "@phone", "TEXTAREA": "@text"}


def _tally(payload: Mapping[str, Any]) -> Item:
    data = payload.get("data") or {}
    flat: dict[str, Any] = {}
    for answer in data.get("fields") or []:
        value = answer.get("value")
        options = {option.get("id"): option.get("text") for option in answer.get("options") or []}
        if options and isinstance(value, list):
            value = [options.get(choice, choice) for choice in value]
        for key in (answer.get("label"), answer.get("key"), _TALLY_TYPES.get(answer.get("type"))):
            if key:
                flat.setdefault(key, value)
    return Item(flat, _text(payload.get("eventId")) or _text(data.get("responseId")))


def _meta(payload: Mapping[str, Any]) -> list[Item]:
    """Meta sends only leadgen ids (no personal data); the fields are fetched separately."""
    found = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") == "leadgen" and value.get("leadgen_id") is not None:
                leadgen_id = str(value["leadgen_id"])
                found.append(Item({"leadgen_id": leadgen_id, **value}, leadgen_id))
    return found


def meta_fields(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The Graph API's `field_data` list as plain fields."""
    return {
        entry.get("name"): _text(entry.get("values"))
        for entry in lead.get("field_data") or []
        if entry.get("name")
    }


def extract(mapping: Mapping[str, str], fields: Mapping[str, Any]) -> Inbound:
    """Pick the lead's fields from one item by the mapping, then by the kind's defaults."""
    lowered = {str(key).lower(): value for key, value in fields.items()}

    def pick(target: str) -> str | None:
        if target in mapping:
            return _text(_path(fields, mapping[target]))
        return next(
            (
                _text(lowered[key])
                for key in DEFAULT_KEYS.get(target, ())
                if _text(lowered.get(key))
            ),
            None,
        )

    utm = {name: value for name in UTM_FIELDS if (value := pick(name) or _text(lowered.get(name)))}
    profile = {
        target.removeprefix("profile."): value
        for target in mapping
        if target.startswith("profile.") and (value := pick(target))
    }
    return Inbound(
        name=pick("name"),
        phone=pick("phone"),
        email=pick("email"),
        comment=pick("comment"),
        region=pick("region"),
        utm=utm,
        profile=profile,
    )


def _path(fields: Mapping[str, Any], path: str) -> Any:
    if path in fields:
        return fields[path]
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
