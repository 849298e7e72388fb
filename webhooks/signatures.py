"""Checking that a lead webhook comes from who it says, the vendor's way, over the raw bytes.

Every comparison is constant-time (`hmac.compare_digest`), and nothing is parsed before the
signature holds, except for Tilda, whose API key may travel as a form field.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qs

from core.sources import KEY_HEADERS

#: Standard Webhooks refuse messages whose timestamp is further than this from now.
TOLERANCE_SECONDS = 5 * 60
#: ASCII digits only (`str.isdigit` takes "²" too), and at most 12 of them: more would be
#: millennia from now, and too many for `int()` or for a float to hold.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings."""
    return hmac.compare_digest(given.encode(), expected.encode())


def typeform(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """`Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`."""
    digest = base64.b64encode(_hmac(secret.encode(), body)).decode()
    return same(headers.get("typeform-signature", ""), f"sha256={digest}")


def tally(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """`Tally-Signature: <base64 HMAC-SHA256 of the body>`."""
    digest = base64.b64encode(_hmac(secret.encode(), body)).decode()
    return same(headers.get("tally-signature", ""), digest)


def meta(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` with the app secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return same(headers.get("x-hub-signature-256", ""), f"sha256={digest}")


def google_forms(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """`X-LeadLoop-Signature: sha256=<base64 HMAC-SHA256>`, as the README's Apps Script signs."""
    digest = base64.b64encode(_hmac(secret.encode(), body)).decode()
    return same(headers.get("x-leadloop-signature", ""), f"sha256={digest}")


def tilda(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Tilda signs nothing: its API key arrives as a header, or as a form or JSON field."""
    for name in KEY_HEADERS:
        if name in headers:
            return same(headers[name], secret)
    return same(_body_field(body, ("api_key", "apikey", "key")), secret)


def _body_field(body: bytes, names: tuple[str, ...]) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        fields: Mapping[str, object] = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or too deeply nested to hold a key
        fields = {key: values[0] for key, values in parse_qs(text).items()}
    if not isinstance(fields, Mapping):
        return ""
    return next((str(fields[name]) for name in names if name in fields), "")


def standard_webhooks(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> bool:
    """Standard Webhooks (`whsec_` keys): `webhook-id`, `webhook-timestamp` within five
    minutes, and `webhook-signature` holding `v1,<base64 HMAC of "id.timestamp.body">`.
    The whole secret as `Authorization: Bearer <secret>` is accepted as well."""
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        return same(authorization.removeprefix("Bearer "), secret)
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not _UNIX_SECONDS.fullmatch(timestamp):
        return False
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(_hmac(key, signed)).decode()
    offered = headers.get("webhook-signature", "").split()
    return any(same(part.split(",", 1)[1], expected) for part in offered if part.startswith("v1,"))
