"""Reading a webhook body by its content type: JSON, url-encoded or multipart form data."""

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from core.errors import InvalidInput


def parse_body(content_type: str, body: bytes) -> Any:
    """The body as JSON (any shape) or as a flat dict of form fields."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if kind == "multipart/form-data":
            return _multipart(content_type, body)
        return json.loads(body)
    # LookupError: an unknown charset; RecursionError: JSON nested deeper than Python recurses
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
        raise InvalidInput(
            f"the body is not valid {kind or 'JSON'}", code="body", field="body"
        ) from None


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        raise ValueError("no multipart boundary")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and not part.get_filename():
            fields[str(name)] = _text(part) if part.get_content_maintype() == "text" else ""
    return fields


def _text(part: Any) -> str:
    # RFC 7578: a form field without a charset is UTF-8 (the email parser would take ASCII).
    payload = part.get_payload(decode=True) or b""
    return payload.decode(part.get_content_charset() or "utf-8").strip()
