"""From a vendor's payload to the fields of a lead: each kind's shape, then the source's mapping.

A payload is first flattened into items (one per person) of plain `key -> text`, each with
the vendor's event id. The source's mapping then says which key is the name, phone, email,
comment, region, `utm_*` or `profile.<attribute>`; kinds have sensible defaults, and a mapping
value may be a dotted path into nested JSON (`contact.phone`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput

KINDS = ("generic", "tilda", "typeform", "meta", "tally", "google-forms")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: Where each lead field is looked for when the mapping names no key: first match wins.
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full_name", "fullname", "your-name", "имя", "姓名", "@name"),
    "phone": (
        "phone",
        "phone_number",
        "tel",
        "telephone",
        "mobile",
        "телефон",
        "电话",
        "@phone",
        "@phone_number",
    ),
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
    """Split a parsed body into one item per person, the vendor's way; InvalidInput naming
    the field when a vendor's payload is not of the vendor's shape."""
    if kind == "typeform":
        return [_typeform(_object(payload, "body"))]
    if kind == "tally":
        return [_tally(_object(payload, "body"))]
    if kind == "meta":
        return _meta(_object(payload, "body"))
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


def _object(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object; null is taken for an empty one, as vendors leave parts out."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _wrong_shape(where, "an object")
    return value


def _objects(value: Any, where: str) -> list[Mapping[str, Any]]:
    """A JSON array of objects; null is taken for an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong_shape(where, "a list")
    return [_object(entry, f"{where}[{index}]") for index, entry in enumerate(value)]


def _key(value: Any, where: str) -> str | None:
    """A name that becomes a field's key: text, or nothing."""
    if value is None or isinstance(value, str):
        return value
    raise _wrong_shape(where, "text")


def _wrong_shape(where: str, shape: str) -> InvalidInput:
    return InvalidInput(f"{where} is not {shape}", code="wrong_shape", field=where)


def _typeform(payload: Mapping[str, Any]) -> Item:
    response = _object(payload.get("form_response"), "form_response")
    flat: dict[str, Any] = {}
    answers = _objects(response.get("answers"), "form_response.answers")
    for index, answer in enumerate(answers):
        _typeform_answer(answer, f"form_response.answers[{index}]", flat)
    flat.update(_object(response.get("hidden"), "form_response.hidden"))
    return Item(flat, _text(payload.get("event_id")) or _text(response.get("token")))


def _typeform_answer(answer: Mapping[str, Any], where: str, flat: dict[str, Any]) -> None:
    """Add one answer under its field's ref, its id and `@<answer type>`."""
    kind = _key(answer.get("type"), f"{where}.type")
    definition = _object(answer.get("field"), f"{where}.field")
    value = _typeform_value(answer, kind, where)
    keys = (
        _key(definition.get("ref"), f"{where}.field.ref"),
        _key(definition.get("id"), f"{where}.field.id"),
        kind and "@" + kind,
    )
    for key in keys:
        if key:
            flat.setdefault(key, value)
    if definition.get("type") == "short_text":
        flat.setdefault("@name", value)


def _typeform_value(answer: Mapping[str, Any], kind: str | None, where: str) -> Any:
    if kind == "choice":
        return _object(answer.get("choice"), f"{where}.choice").get("label")
    if kind == "choices":
        return _object(answer.get("choices"), f"{where}.choices").get("labels")
    return answer.get(kind) if kind else None


_TALLY_TYPES = {"INPUT_EMAIL": "@email", "INPUT_PHONE_NUMBER": "@phone", "TEXTAREA": "@text"}


def _tally(payload: Mapping[str, Any]) -> Item:
    data = _object(payload.get("data"), "data")
    flat: dict[str, Any] = {}
    for index, answer in enumerate(_objects(data.get("fields"), "data.fields")):
        where = f"data.fields[{index}]"
        kind = _key(answer.get("type"), f"{where}.type")
        keys = (
            _key(answer.get("label"), f"{where}.label"),
            _key(answer.get("key"), f"{where}.key"),
            _TALLY_TYPES.get(kind or ""),
        )
        value = _tally_value(answer, where)
        for key in keys:
            if key:
                flat.setdefault(key, value)
    return Item(flat, _text(payload.get("eventId")) or _text(data.get("responseId")))


def _tally_value(answer: Mapping[str, Any], where: str) -> Any:
    """The answer, with the ids of chosen options replaced by the options' texts."""
    value = answer.get("value")
    options = {
        _key(option.get("id"), f"{where}.options[{index}].id"): option.get("text")
        for index, option in enumerate(_objects(answer.get("options"), f"{where}.options"))
    }
    if options and isinstance(value, list):
        return [
            options.get(choice, choice) if isinstance(choice, str) else choice for choice in value
        ]
    return value


def _meta(payload: Mapping[str, Any]) -> list[Item]:
    """Meta sends only leadgen ids (no personal data); the fields are fetched separately."""
    found = []
    for index, entry in enumerate(_objects(payload.get("entry"), "entry")):
        where = f"entry[{index}].changes"
        for number, change in enumerate(_objects(entry.get("changes"), where)):
            value = _object(change.get("value"), f"{where}[{number}].value")
            if change.get("field") == "leadgen" and value.get("leadgen_id") is not None:
                leadgen_id = str(value["leadgen_id"])
                found.append(Item({"leadgen_id": leadgen_id, **value}, leadgen_id))
    return found


def meta_fields(lead: Any) -> dict[str, Any]:
    """The Graph API's `field_data` list as plain fields."""
    fields = {}
    for index, entry in enumerate(_objects(_object(lead, "lead").get("field_data"), "field_data")):
        name = _key(entry.get("name"), f"field_data[{index}].name")
        if name:
            fields[name] = _text(entry.get("values"))
    return fields


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
