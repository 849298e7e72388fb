"""The demo page: chat in a browser with the real bot, as any demo person, through the stand-in.

The page is a plain Telegram-like client. It reads the conversation the stand-in recorded and
turns what the visitor does into the updates Telegram would deliver: texts, button presses,
contacts, photos and documents. Nothing here knows what the bot will answer.
"""

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from leadloop.demo_data import WEB_FORM, DemoPeople, Persona
from leadloop.standin import (
    ApiCall,
    BotApiStandin,
    callback_query,
    contact_message,
    document_message,
    make_user,
    photo_message,
    private_chat,
    text_message,
)
from leadloop.standin.bot_settings import commands_key

STATIC = Path(__file__).with_name("demo_static")
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
# The page loads only its own script, style and images: bot text can never bring in markup.
CSP = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'"
ANSWER_WAIT = 5.0
UPLOAD_LIMIT = 20 * 1024 * 1024
PHOTO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
IMAGE_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8": "image/jpeg", b"GIF8": "image/gif"}
#: Where the persona "is" when a keyboard button asks for their location (San Francisco).
LOCATION = {"latitude": 37.7793, "longitude": -122.4193}


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4096)


class PressIn(BaseModel):
    message_id: int
    data: str = Field(min_length=1, max_length=64)


class ContactIn(BaseModel):
    #: Index of one of the people's contact cards; None shares the persona's own contact.
    card: int | None = None


def demo_router(
    standin: BotApiStandin, people: DemoPeople, *, answer_wait: float = ANSWER_WAIT
) -> APIRouter:
    """The page under /demo/ and its JSON endpoints under /demo/api/."""
    page = DemoPage(standin, people, answer_wait)
    router = APIRouter(prefix="/demo", include_in_schema=False)
    router.add_api_route("/", page.index, methods=["GET"])
    router.add_api_route("/api/setup", page.setup, methods=["GET"])
    router.add_api_route("/api/chats/{telegram_id}", page.chat, methods=["GET"])
    router.add_api_route("/api/chats/{telegram_id}/text", page.send_text, methods=["POST"])
    router.add_api_route("/api/chats/{telegram_id}/press", page.press, methods=["POST"])
    router.add_api_route("/api/chats/{telegram_id}/contact", page.share_contact, methods=["POST"])
    router.add_api_route("/api/chats/{telegram_id}/location", page.share_location, methods=["POST"])
    router.add_api_route("/api/chats/{telegram_id}/upload", page.upload, methods=["POST"])
    router.add_api_route("/api/files/{file_id}", page.file, methods=["GET"])
    router.add_api_route("/{asset}", page.asset, methods=["GET"])
    return router


class DemoPage:
    """The page's endpoints for one stand-in and one set of demo people."""

    def __init__(self, standin: BotApiStandin, people: DemoPeople, answer_wait: float) -> None:
        self.standin = standin
        self.people = people
        self.answer_wait = answer_wait

    async def index(self) -> FileResponse:
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=headers)

    async def asset(self, asset: str) -> FileResponse:
        if asset not in ASSETS:
            raise HTTPException(404, "no such file")
        headers = {"Cache-Control": "no-cache"}
        return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=headers)

    async def setup(self) -> dict[str, Any]:
        """The bot, the people one can be, and the customer contacts one can forward."""
        personas = [
            {"id": p.telegram_id, "name": p.name, "role": p.role, "phone": p.phone}
            for p in self.people.personas
        ]
        cards = [
            {"index": i, "name": c.name, "phone": c.phone, "note": c.note}
            for i, c in enumerate(self.people.contact_cards)
        ]
        bot = self.standin.bot_user
        return {
            "bot": {"name": bot["first_name"], "username": bot.get("username")},
            "team": self.people.team,
            "personas": personas,
            "contact_cards": cards,
            "web_form": f"/webhooks/leads/{WEB_FORM}",
        }

    async def chat(self, telegram_id: int) -> dict[str, Any]:
        """The conversation as the persona's Telegram shows it, with its keyboard and menu."""
        self._persona(telegram_id)
        return {
            "messages": self.standin.chat_messages(telegram_id),
            "keyboard": reply_keyboard(self.standin.calls, telegram_id),
            "commands": self._commands(telegram_id),
        }

    async def send_text(self, telegram_id: int, body: TextIn) -> dict[str, Any]:
        return self._deliver(text_message(self._sender(telegram_id), body.text))

    async def press(self, telegram_id: int, body: PressIn) -> dict[str, Any]:
        """Press an inline button; answers with the bot's callback answer (the toast) if any."""
        sender = self._sender(telegram_id)
        messages = self.standin.chat_messages(telegram_id)
        message = next((m for m in messages if m["message_id"] == body.message_id), None)
        if message is None:
            raise HTTPException(404, "no such message")
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == body.data for row in rows for button in row):
            raise HTTPException(400, "the message has no such button")
        since = len(self.standin.calls)
        update = self.standin.add_update(callback_query(sender, message, body.data))
        query_id = update["callback_query"]["id"]
        try:
            await self.standin.wait_for_call(
                "answerCallbackQuery",
                lambda call: call.params.get("callback_query_id") == query_id,
                timeout=self.answer_wait,
                since=since,
            )
        except TimeoutError:
            return {"update_id": update["update_id"], "answered": False}
        answer = self.standin.callback_answers.get(query_id, {})
        text, show_alert = answer.get("text") or "", bool(answer.get("show_alert"))
        return {
            "update_id": update["update_id"],
            "answered": True,
            "text": text,
            "show_alert": show_alert,
        }

    async def share_contact(self, telegram_id: int, body: ContactIn) -> dict[str, Any]:
        sender, persona = self._sender(telegram_id), self._persona(telegram_id)
        if body.card is None:
            return self._deliver(contact_message(sender, persona.phone, own=True))
        if not 0 <= body.card < len(self.people.contact_cards):
            raise HTTPException(404, "no such contact card")
        card = self.people.contact_cards[body.card]
        update = contact_message(
            sender, card.phone, first_name=card.first_name, last_name=card.last_name, own=False
        )
        return self._deliver(update)

    async def share_location(self, telegram_id: int) -> dict[str, Any]:
        sender = self._sender(telegram_id)
        message = {"chat": private_chat(sender), "from": sender, "location": dict(LOCATION)}
        return self._deliver({"message": message})

    async def upload(
        self,
        telegram_id: int,
        request: Request,
        file_name: str = Query(min_length=1, max_length=255),
        caption: str = Query("", max_length=1024),
    ) -> dict[str, Any]:
        """A photo or document: the file's bytes are the request body, as the browser read them."""
        sender = self._sender(telegram_id)
        data = await request.body()
        if not data or len(data) > UPLOAD_LIMIT:
            raise HTTPException(413, "send a file of 1 byte to 20 MB")
        mime_type = request.headers.get("content-type", "application/octet-stream")
        if mime_type in PHOTO_TYPES:
            try:
                photo = self.standin.upload_user_file(data, kind="photo")
                return self._deliver(photo_message(sender, photo, caption=caption or None))
            except ValueError:
                pass  # not a picture Telegram could read: it goes as a document
        document = self.standin.upload_user_file(
            data, kind="document", file_name=file_name, mime_type=mime_type
        )
        return self._deliver(document_message(sender, document, caption=caption or None))

    async def file(self, file_id: str, name: str | None = None) -> Response:
        """A file's bytes: pictures inline, anything else only as a download."""
        try:
            data = self.standin.file_bytes(file_id)
        except KeyError:
            raise HTTPException(404, "no such file") from None
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
        image_type = _image_type(data)
        if image_type and name is None:
            return Response(data, media_type=image_type, headers=headers)
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name or file_id)}"
        return Response(data, media_type="application/octet-stream", headers=headers)

    def _persona(self, telegram_id: int) -> Persona:
        persona = self.people.persona(telegram_id)
        if persona is None:
            raise HTTPException(404, "no such demo person")
        return persona

    def _sender(self, telegram_id: int) -> dict[str, Any]:
        """The Telegram User object of a persona."""
        persona = self._persona(telegram_id)
        return make_user(
            persona.telegram_id,
            persona.first_name,
            last_name=persona.last_name,
            language_code="en",
        )

    def _deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        queued = self.standin.add_update(update)
        return {"update_id": queued["update_id"]}

    def _commands(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's command menu for this chat, looked up in Telegram's order of scopes."""
        scopes = ({"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, None)
        for scope in scopes:
            for language in ("en", None):
                commands = self.standin.commands.get(commands_key(scope, language))
                if commands:
                    return commands
        return []


def reply_keyboard(calls: list[ApiCall], chat_id: int) -> dict[str, Any] | None:
    """The reply keyboard a chat shows: the last one a send* call set, unless one removed it."""
    for index in range(len(calls) - 1, -1, -1):
        call = calls[index]
        if not (call.ok and call.method.startswith("send")):
            continue
        markup = call.params.get("reply_markup")
        if str(call.params.get("chat_id")) != str(chat_id) or not isinstance(markup, dict):
            continue
        if markup.get("remove_keyboard"):
            return None
        if "keyboard" in markup:
            return {
                "id": index,
                "rows": [[_reply_button(button) for button in row] for row in markup["keyboard"]],
                "one_time": bool(markup.get("one_time_keyboard")),
                "placeholder": markup.get("input_field_placeholder"),
            }
    return None


def _reply_button(button: Any) -> dict[str, str]:
    if isinstance(button, str):
        return {"text": button, "kind": "text"}
    kind = "text"
    if button.get("request_contact"):
        kind = "contact"
    elif button.get("request_location"):
        kind = "location"
    elif set(button) - {"text", "style", "icon_custom_emoji_id"}:
        kind = "unsupported"  # polls, users, chats and web apps are beyond the demo
    return {"text": str(button.get("text", "")), "kind": kind}


def _image_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in IMAGE_MAGIC.items() if data.startswith(magic)), None)
