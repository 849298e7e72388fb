"""Decoding request bodies the way the Bot API does, and typed access to parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .state import StandinState, bad_request

# Parameters that are always strings, even when their value happens to look like JSON.
TEXT_PARAMS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "short_description",
        "name",
        "url",
        "secret_token",
        "callback_query_id",
        "inline_message_id",
        "parse_mode",
        "language_code",
        "action",
        "file_id",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "custom_emoji_id",
        "message_effect_id",
        "business_connection_id",
        "ip_address",
        "emoji",
        "query",
        "method",
    }
)

Files = dict[str, tuple[str, bytes]]


def decode_value(key: str, value: Any) -> Any:
    """Turn a form field into the JSON value it stands for (aiogram JSON-encodes non-strings)."""
    if not isinstance(value, str) or key in TEXT_PARAMS:
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return value if decoded is None else decoded


def decode_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: decode_value(key, value) for key, value in raw.items()}


def _content_type(header: str) -> tuple[str, dict[str, str]]:
    main, _, rest = header.partition(";")
    options: dict[str, str] = {}
    for item in rest.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep:
            options[name.strip().lower()] = value.strip().strip('"')
    return main.strip().lower(), options


def _parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], Files]:
    fields: dict[str, str] = {}
    files: Files = {}
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, payload = chunk.partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        disposition: dict[str, str] = {}
        charset = "utf-8"
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() == "content-disposition":
                disposition = _content_type(value)[1]
            elif header.strip().lower() == "content-type":
                charset = _content_type(value)[1].get("charset", charset)
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            files[name] = (disposition["filename"], payload)
        else:
            fields[name] = payload.decode(charset, "replace")
    return fields, files


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], Files]:
    """Parameters and uploaded files from a form, multipart or JSON body."""
    kind, options = _content_type(content_type)
    if not body.strip():
        return {}, {}
    if kind == "multipart/form-data" and "boundary" in options:
        fields, files = _parse_multipart(body, options["boundary"])
        return decode_params(fields), files
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError as error:
            raise bad_request("can't parse JSON encoded request") from error
        if not isinstance(data, dict):
            raise bad_request("can't parse JSON encoded request")
        return decode_params(data), {}
    text = body.decode(options.get("charset", "utf-8"), "replace")
    return decode_params(dict(parse_qsl(text, keep_blank_values=True))), {}


class Params:
    """Typed, Telegram-validated access to one call's parameters."""

    def __init__(self, state: StandinState, raw: dict[str, Any], files: Files) -> None:
        self.state = state
        self.raw = raw
        self.files = files

    def __contains__(self, key: str) -> bool:
        return self.raw.get(key) not in (None, "")

    def get(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        return None if value is None else str(value)

    def integer(self, key: str, *, missing: str | None = None) -> int | None:
        value = self.raw.get(key)
        if value in (None, ""):
            if missing is not None:
                raise bad_request(missing)
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {key} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {key} specified") from None

    def flag(self, key: str) -> bool:
        value = self.raw.get(key)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def obj(self, key: str) -> Any:
        """A JSON object or array parameter (None when absent)."""
        value = self.raw.get(key)
        if isinstance(value, str) and value:
            raise bad_request(f"can't parse {key} JSON object")
        return value

    def chat_id(self) -> int:
        value = self.raw.get("chat_id")
        if value in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            found = self.state.find_chat_by_username(value)
            if found is None:
                raise bad_request("chat not found")
            return found
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise bad_request("chat not found")
        try:
            chat_id = int(value)
        except ValueError:
            raise bad_request("chat not found") from None
        if chat_id == 0:
            raise bad_request("chat not found")
        return chat_id

    def message_id(self) -> int:
        value = self.integer("message_id")
        if value is None:
            raise bad_request("message identifier is not specified")
        return value
