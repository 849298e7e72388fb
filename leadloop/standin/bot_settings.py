"""Bot-wide settings: command lists, descriptions, name and menu button."""

from __future__ import annotations

import json
import re
from typing import Any

from .dispatch import CallContext, api_method
from .state import bad_request

COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
MAX_COMMANDS = 100


def commands_key(scope: Any, language_code: str | None) -> tuple[str, str]:
    """Key of a command list: canonical scope JSON and language code ("" for all)."""
    scope = scope or {"type": "default"}
    return json.dumps(scope, sort_keys=True, separators=(",", ":")), language_code or ""


def _key(ctx: CallContext) -> tuple[str, str]:
    scope = ctx.params.obj("scope")
    if scope is not None and not (isinstance(scope, dict) and "type" in scope):
        raise bad_request("can't parse BotCommandScope JSON object")
    return commands_key(scope, ctx.params.text("language_code"))


@api_method("setMyCommands")
async def set_my_commands(ctx: CallContext) -> bool:
    commands = ctx.params.obj("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("too many commands specified")
    for command in commands:
        if not isinstance(command, dict) or not COMMAND_RE.fullmatch(str(command.get("command"))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description must be non-empty")
    key = _key(ctx)
    if commands:
        ctx.state.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
    else:
        ctx.state.commands.pop(key, None)
    return True


@api_method("getMyCommands")
async def get_my_commands(ctx: CallContext) -> list[dict[str, Any]]:
    return list(ctx.state.commands.get(_key(ctx), []))


@api_method("deleteMyCommands")
async def delete_my_commands(ctx: CallContext) -> bool:
    ctx.state.commands.pop(_key(ctx), None)
    return True


def _text_setting(setter: str, getter: str, field: str, limit: int) -> None:
    """Register a set/get pair for a per-language text such as the bot description."""

    async def set_value(ctx: CallContext) -> bool:
        value = ctx.params.text(field) or ""
        if len(value) > limit:
            raise bad_request(f"{field} is too long")
        ctx.state.bot_settings[(field, ctx.params.text("language_code") or "")] = value
        return True

    async def get_value(ctx: CallContext) -> dict[str, str]:
        key = (field, ctx.params.text("language_code") or "")
        fallback = ctx.state.bot_settings.get((field, ""), "")
        return {field: ctx.state.bot_settings.get(key, fallback)}

    api_method(setter)(set_value)
    api_method(getter)(get_value)


_text_setting("setMyDescription", "getMyDescription", "description", 512)
_text_setting("setMyShortDescription", "getMyShortDescription", "short_description", 120)
_text_setting("setMyName", "getMyName", "name", 64)


@api_method("setChatMenuButton")
async def set_chat_menu_button(ctx: CallContext) -> bool:
    button = ctx.params.obj("menu_button") or {"type": "default"}
    ctx.state.bot_settings[("menu_button", ctx.params.integer("chat_id") or 0)] = button
    return True


@api_method("getChatMenuButton")
async def get_chat_menu_button(ctx: CallContext) -> dict[str, Any]:
    settings = ctx.state.bot_settings
    default = settings.get(("menu_button", 0), {"type": "commands"})
    return settings.get(("menu_button", ctx.params.integer("chat_id") or 0), default)
