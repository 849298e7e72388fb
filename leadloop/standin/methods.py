"""Bot API methods about the bot itself, text messages, callbacks and chats."""

from __future__ import annotations

from typing import Any

from .dispatch import CallContext, api_method
from .markup import check_inline_markup, check_reply_markup
from .messages import apply_edit, caption, message_text, message_to_edit, new_bot_message
from .state import bad_request

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
CALLBACK_TEXT_LIMIT = 200


@api_method("getMe")
async def get_me(ctx: CallContext) -> dict[str, Any]:
    return {
        **ctx.state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("sendMessage")
async def send_message(ctx: CallContext) -> dict[str, Any]:
    chat_id = ctx.params.chat_id()
    text, entities = message_text(ctx)
    markup = check_reply_markup(ctx.params.obj("reply_markup"))
    content: dict[str, Any] = {"text": text, "entities": entities}
    preview = ctx.params.obj("link_preview_options")
    if isinstance(preview, dict) and preview:
        content["link_preview_options"] = preview
    return new_bot_message(ctx, chat_id, content, markup)


@api_method("editMessageText")
async def edit_message_text(ctx: CallContext) -> dict[str, Any]:
    message = message_to_edit(ctx)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    text, entities = message_text(ctx)
    markup = check_inline_markup(ctx.params.obj("reply_markup"))
    return apply_edit(message, {"text": text, "entities": entities}, markup)


@api_method("editMessageCaption")
async def edit_message_caption(ctx: CallContext) -> dict[str, Any]:
    message = message_to_edit(ctx)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    text, entities = caption(ctx)
    markup = check_inline_markup(ctx.params.obj("reply_markup"))
    return apply_edit(message, {"caption": text, "caption_entities": entities}, markup)


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(ctx: CallContext) -> dict[str, Any]:
    message = message_to_edit(ctx)
    markup = check_inline_markup(ctx.params.obj("reply_markup"))
    return apply_edit(message, {}, markup)


@api_method("deleteMessage")
async def delete_message(ctx: CallContext) -> bool:
    chat_id = ctx.params.chat_id()
    message_id = ctx.params.message_id()
    if ctx.state.messages.get(chat_id, {}).pop(message_id, None) is None:
        raise bad_request("message to delete not found")
    return True


@api_method("answerCallbackQuery")
async def answer_callback_query(ctx: CallContext) -> bool:
    query_id = ctx.params.text("callback_query_id") or ""
    text = ctx.params.text("text") or ""
    if len(text) > CALLBACK_TEXT_LIMIT:
        raise bad_request("MESSAGE_TOO_LONG")
    # Unknown and already answered queries look the same to Telegram.
    if query_id not in ctx.state.open_callback_queries:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    ctx.state.open_callback_queries.discard(query_id)
    ctx.state.callback_answers[query_id] = dict(ctx.params.raw)
    return True


@api_method("sendChatAction")
async def send_chat_action(ctx: CallContext) -> bool:
    ctx.params.chat_id()
    if ctx.params.text("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


@api_method("getChat")
async def get_chat(ctx: CallContext) -> dict[str, Any]:
    chat_id = ctx.params.chat_id()
    if chat_id not in ctx.state.chats:
        raise bad_request("chat not found")
    return {
        **ctx.state.chats[chat_id],
        "accent_color_id": chat_id % 7,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        },
    }
