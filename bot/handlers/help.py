"""/help: the commands of the member's role, one line each."""

from aiogram import F, Router
from aiogram.filters import Command, MagicData
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import DESCRIPTIONS, commands_of
from bot.menu import HELP
from core.models import User

#: How a command that needs more than its name is written.
EXAMPLES = {
    "find": "/find 912",
    "lead": "/lead 42",
    "invite": "/invite rep",
    "reassign": "/reassign 42",
    "merge": "/merge 42 57",
    "history": "/history 42",
}


def router() -> Router:
    help_router = Router(name="help")
    help_router.message.filter(MagicData(F.member.is_not(None)))
    help_router.callback_query.filter(MagicData(F.member.is_not(None)))
    help_router.message.register(show_help, Command("help"))
    help_router.message.register(show_help, F.text == HELP)
    return help_router


def help_text(member: User) -> str:
    lines = [_("<b>What I can do</b>")]
    for command in commands_of(member.role):
        line = f"/{command} — {DESCRIPTIONS[command]}"
        if command in EXAMPLES:
            line += _(", e.g. <code>{example}</code>").format(example=EXAMPLES[command])
        lines.append(line)
    lines.append("")
    lines.append(_("The buttons under the input field do the everyday things in one tap."))
    return "\n".join(lines)


async def show_help(message: Message, member: User) -> None:
    await message.answer(help_text(member))
