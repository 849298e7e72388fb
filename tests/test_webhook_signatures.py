"""Vendor signatures, checked against the vectors in shared/samples/webhooks."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhooks import signatures

# Copies of the vendor-documented requests in shared/samples/webhooks, with their sources.
SAMPLES = Path(__file__).parent / "fixtures" / "webhooks"


def sample(vendor: str) -> dict:
    return json.loads((SAMPLES / f"{vendor}.json").read_text())


def request(vendor: str, name: str) -> dict:
    return next(item for item in sample(vendor)["requests"] if item["name"].startswith(name))


def test_typeform_vector() -> None:
    body = request("typeform", "form_response")["body_raw"].encode()
    vector = sample("typeform")["test_vector"]
    headers = {"typeform-signature": vector["Typeform-Signature"]}
    assert signatures.typeform(vector["secret"], headers, body)
    assert not signatures.typeform("other-secret", headers, body)
    assert not signatures.typeform(vector["secret"], headers, body + b" ")
    assert not signatures.typeform(vector["secret"], {}, body)


def test_tally_vector() -> None:
    body = request("tally", "FORM_RESPONSE")["body_raw"].encode()
    vector = sample("tally")["test_vector"]
    headers = {"tally-signature": vector["Tally-Signature"]}
    assert signatures.tally(vector["signing_secret"], headers, body)
    assert not signatures.tally(vector["signing_secret"], {"tally-signature": "x"}, body)


def test_meta_vector() -> None:
    body = request("meta_lead_ads", "leadgen_notification")["body_raw"].encode()
    vector = sample("meta_lead_ads")["test_vector"]
    headers = {"x-hub-signature-256": vector["X-Hub-Signature-256"]}
    assert signatures.meta(vector["app_secret"], headers, body)
    assert not signatures.meta("nope", headers, body)


def test_tilda_api_key_as_header_or_field() -> None:
    assert signatures.tilda("k1", {"x-api-key": "k1"}, b"Name=A")
    assert signatures.tilda("k1", {}, b"Name=A&api_key=k1")
    assert signatures.tilda("k1", {}, b'{"Name": "A", "api_key": "k1"}')
    assert not signatures.tilda("k1", {"x-api-key": "k2"}, b"api_key=k1")
    assert not signatures.tilda("k1", {}, b"Name=A")
    assert not signatures.tilda("k1", {}, b"[" * 20_000 + b"]" * 20_000)  # too deep for json


def _standard(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{int(at.timestamp())}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": f"v1,bogus v1,{digest}",
    }


SECRET = "whsec_" + base64.b64encode(b"a" * 24).decode()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_standard_webhooks_signature_and_timestamp_window() -> None:
    body = b'{"name": "Anna", "phone": "+79123456789"}'
    headers = _standard(SECRET, "msg_1", NOW, body)
    assert signatures.standard_webhooks(SECRET, headers, body, NOW)
    assert not signatures.standard_webhooks(SECRET, headers, body + b"x", NOW)
    late = datetime.fromtimestamp(NOW.timestamp() + 301, UTC)
    assert not signatures.standard_webhooks(SECRET, headers, body, late)
    assert not signatures.standard_webhooks(SECRET, {**headers, "webhook-id": "msg_2"}, body, NOW)


@pytest.mark.parametrize(
    ("authorization", "accepted"),
    [(f"Bearer {SECRET}", True), ("Bearer whsec_wrong", False), (SECRET, False)],
)
def test_standard_webhooks_bearer_secret(authorization: str, accepted: bool) -> None:
    headers = {"authorization": authorization}
    assert signatures.standard_webhooks(SECRET, headers, b"{}", NOW) is accepted


@pytest.mark.parametrize(
    "stamp",
    ["²", "9" * 400, "9" * 5000],
    ids=["a digit int() refuses", "overflows a float", "too long for int()"],
)
def test_standard_webhooks_take_only_ascii_seconds_as_the_timestamp(stamp: str) -> None:
    body = b'{"phone": "+79123456789"}'
    headers = {**_standard(SECRET, "msg_1", NOW, body), "webhook-timestamp": stamp}
    assert not signatures.standard_webhooks(SECRET, headers, body, NOW)
