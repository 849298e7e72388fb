"""Files: photos and documents sent by the bot or by users, getFile and downloads."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import secrets
from pathlib import PurePosixPath
from typing import Any

from .dispatch import CallContext, api_method
from .images import image_size
from .markup import check_reply_markup
from .messages import caption, new_bot_message
from .state import ApiError, StandinState, StoredFile, bad_request

# Telegram keeps these sides when it rescales a photo, plus the original (capped at 2560).
PHOTO_STEPS = (90, 320, 800, 1280)
MAX_PHOTO_SIDE = 2560
DOWNLOAD_LIMIT = 20 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
FILE_ID_PREFIX = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI"}


def _unique_id(data: bytes, label: str) -> str:
    # Same content gives the same file_unique_id, as on Telegram.
    digest = hashlib.sha256(label.encode() + data).digest()
    return "AQAD" + base64.urlsafe_b64encode(digest[:9]).decode()


def _store(
    state: StandinState,
    data: bytes,
    kind: str,
    *,
    label: str = "",
    file_name: str | None = None,
    mime_type: str | None = None,
) -> StoredFile:
    number = len(state.files)
    if kind == "photo":
        path = f"photos/file_{number}.jpg"
    else:
        suffix = PurePosixPath(file_name or "").suffix
        path = f"documents/file_{number}{suffix}"
    stored = StoredFile(
        file_id=FILE_ID_PREFIX[kind] + secrets.token_urlsafe(48),
        file_unique_id=_unique_id(data, kind + label),
        file_path=path,
        data=data,
        kind=kind,
        file_name=file_name,
        mime_type=mime_type,
    )
    state.files[stored.file_id] = stored
    state.files_by_path[path] = stored
    return stored


def store_photo(state: StandinState, data: bytes) -> list[dict[str, Any]]:
    """Store an image and describe it as the PhotoSize list Telegram would produce."""
    size = image_size(data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    longest = max(width, height)
    sides = [side for side in PHOTO_STEPS if side < longest] + [min(longest, MAX_PHOTO_SIDE)]
    sizes = []
    for side in sides:
        stored = _store(state, data, "photo", label=str(side))
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": max(1, round(width * side / longest)),
                "height": max(1, round(height * side / longest)),
                "file_size": len(data),
            }
        )
        stored.telegram_object = sizes
    return sizes


def store_document(
    state: StandinState, data: bytes, file_name: str | None, mime_type: str | None
) -> dict[str, Any]:
    """Store a file and describe it as a Document object."""
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > UPLOAD_LIMIT:
        raise ApiError(413, "Request Entity Too Large")
    if mime_type is None and file_name:
        mime_type = mimetypes.guess_type(file_name)[0]
    stored = _store(state, data, "document", file_name=file_name, mime_type=mime_type)
    document: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(data),
    }
    if file_name:
        document["file_name"] = file_name
    if mime_type:
        document["mime_type"] = mime_type
    stored.telegram_object = document
    return document


def _input_file(ctx: CallContext, field: str) -> Any:
    """The PhotoSize list / Document for the file a send* call refers to."""
    params = ctx.params
    value = params.get(field)
    upload = params.files.get(field)
    if isinstance(value, str) and value.startswith("attach://"):
        upload = params.files.get(value.removeprefix("attach://"))
    if upload is not None:
        file_name, data = upload
        if field == "photo":
            return store_photo(ctx.state, data)
        return store_document(ctx.state, data, file_name, None)
    if not isinstance(value, str) or not value:
        raise bad_request(f"there is no {field} in the request")
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    existing = ctx.state.files.get(value)
    if existing is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if existing.kind != field:
        raise bad_request("type of file mismatch")
    return existing.telegram_object


async def _send_file(ctx: CallContext, field: str) -> dict[str, Any]:
    chat_id = ctx.params.chat_id()
    text, entities = caption(ctx)
    markup = check_reply_markup(ctx.params.obj("reply_markup"))
    content = {field: _input_file(ctx, field), "caption": text, "caption_entities": entities}
    if ctx.params.flag("has_spoiler"):
        content["has_media_spoiler"] = True
    return new_bot_message(ctx, chat_id, content, markup)


@api_method("sendPhoto")
async def send_photo(ctx: CallContext) -> dict[str, Any]:
    return await _send_file(ctx, "photo")


@api_method("sendDocument")
async def send_document(ctx: CallContext) -> dict[str, Any]:
    return await _send_file(ctx, "document")


@api_method("getFile")
async def get_file(ctx: CallContext) -> dict[str, Any]:
    stored = ctx.state.files.get(ctx.params.text("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.data) > DOWNLOAD_LIMIT:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }
