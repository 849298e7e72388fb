"""/settings: a manager reads and changes the team's settings, as `leadloop team set` does."""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, MagicData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import menu
from bot.callbacks import TeamSetting
from bot.handlers.language import LANGUAGES
from bot.rendering import Rendered
from bot.texts import quote
from bot.views import edit_or_send
from core import teams
from core.errors import InvalidInput
from core.models import Channel, Team, User
from core.pipelines import PRESETS

#: The settings a manager changes in the bot (names of core.teams.SETTINGS), in display order.
SHOWN = (
    "claim_window",
    "stale_days",
    "digest_time",
    "timezone",
    "currency",
    "locale",
    "preset",
    "country",
    "manager_chat",
)
#: Settings chosen from buttons rather than typed.
CHOICES = {"locale": tuple(LANGUAGES), "preset": tuple(PRESETS)}


class SettingsFlow(StatesGroup):
    value = State()


def router() -> Router:
    settings_router = Router(name="settings")
    settings_router.message.filter(MagicData(F.member.is_not(None)))
    settings_router.callback_query.filter(MagicData(F.member.is_not(None)))
    settings_router.message.register(show_settings, Command("settings"))
    settings_router.callback_query.register(pick_setting, TeamSetting.filter())
    settings_router.message.register(cancel, SettingsFlow.value, Command("cancel"))
    settings_router.message.register(receive_value, SettingsFlow.value, F.text)
    settings_router.message.register(ask_for_text, SettingsFlow.value, ~F.text)
    return settings_router


def label(setting: str) -> str:
    labels = {
        "claim_window": _("Claim window"),
        "stale_days": _("Stale after, days"),
        "digest_time": _("Daily digest at"),
        "timezone": _("Time zone"),
        "currency": _("Currency"),
        "locale": _("Language"),
        "preset": _("Industry preset"),
        "country": _("Country"),
        "manager_chat": _("Managers' chat"),
    }
    return labels[setting]


def hint(setting: str) -> str:
    """What a value of the setting looks like."""
    hints = {
        "claim_window": _("How long a rep has to claim an offered lead, e.g. 15m, 1h or 2d."),
        "stale_days": _("After how many days without a touch a lead is stale, e.g. 30."),
        "digest_time": _("When the daily digest goes out, as HH:MM, e.g. 09:00."),
        "timezone": _("An IANA time zone, e.g. Europe/Moscow or Asia/Shanghai."),
        "currency": _("A three-letter currency code, e.g. USD, RUB or CNY."),
        "country": _(
            "A two-letter country code, e.g. US, RU or CN: "
            "phone numbers written without a country code are read as this country's."
        ),
        "manager_chat": _("The id of the managers' Telegram chat, e.g. -1001234567890, or off."),
    }
    return hints.get(setting, "")


def preset_label(name: str) -> str:
    labels = {
        "generic": _("Generic"),
        "home-renovation": _("Home renovation"),
        "real-estate": _("Real estate"),
        "used-cars": _("Used cars"),
    }
    return labels.get(name, name)


def shown_value(team: Team, setting: str) -> str:
    if setting == "claim_window":
        return teams.format_duration(team.claim_window_seconds)
    if setting == "digest_time":
        return team.digest_time.strftime("%H:%M")
    if setting == "locale":
        return LANGUAGES.get(team.locale, team.locale)
    if setting == "preset":
        return preset_label(team.preset)
    column, _parse = teams.SETTINGS[setting]
    value = getattr(team, column)
    return "—" if value is None else quote(str(value))


def overview(team: Team, note: str = "") -> Rendered:
    lines = [note] if note else []
    lines.append(_("⚙️ <b>Settings of {team}</b>").format(team=quote(team.name)))
    lines += [f"{label(name)}: <b>{shown_value(team, name)}</b>" for name in SHOWN]
    lines.append(_("Tap a setting to change it."))
    keyboard = InlineKeyboardBuilder()
    for name in SHOWN:
        keyboard.button(text=label(name), callback_data=TeamSetting(name=name))
    keyboard.adjust(2)
    return Rendered("\n".join(lines), keyboard.as_markup())


def question(team: Team, setting: str) -> Rendered:
    """Ask for a new value: buttons for a choice, else the form a typed value takes."""
    keyboard = InlineKeyboardBuilder()
    text = _("<b>{setting}</b> now: {value}").format(
        setting=label(setting), value=shown_value(team, setting)
    )
    if setting in CHOICES:
        for value in CHOICES[setting]:
            name = LANGUAGES[value] if setting == "locale" else preset_label(value)
            keyboard.button(text=name, callback_data=TeamSetting(name=setting, value=value))
    else:
        text += "\n" + hint(setting) + "\n" + _("Send the new value, or /cancel.")
    keyboard.button(text=_("◀ Back"), callback_data=TeamSetting())
    keyboard.adjust(1)
    return Rendered(text, keyboard.as_markup())


async def show_settings(message: Message, session: AsyncSession, member: User) -> None:
    team = await teams.managed_team(session, actor=member)
    rendered = overview(team)
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def pick_setting(
    query: CallbackQuery,
    callback_data: TeamSetting,
    session: AsyncSession,
    member: User,
    state: FSMContext,
) -> None:
    """A setting's button, a choice among its buttons, or Back."""
    team = await teams.managed_team(session, actor=member)
    setting, value = callback_data.name, callback_data.value
    if setting and value:
        team = await _save(session, member, team, setting, value)
        rendered = overview(team, _saved(team, setting))
    elif setting in SHOWN:
        rendered = question(team, setting)
        if setting not in CHOICES:
            await state.set_state(SettingsFlow.value)
            await state.set_data({"setting": setting})
    else:
        await state.clear()
        rendered = overview(team)
    await edit_or_send(query, rendered)
    await query.answer()


async def receive_value(
    message: Message, session: AsyncSession, member: User, state: FSMContext
) -> None:
    """A typed value: saved, or a hint and another try; a command or menu button moves on."""
    text = message.text or ""
    if menu.moves_on(text):
        await state.clear()
        raise SkipHandler
    setting = (await state.get_data()).get("setting", "")
    team = await teams.managed_team(session, actor=member)
    if setting not in SHOWN or setting in CHOICES:
        await state.clear()
        rendered = overview(team)
        await message.answer(rendered.text, reply_markup=rendered.reply_markup)
        return
    try:
        team = await _save(session, member, team, setting, text)
    except InvalidInput:
        await message.answer(
            _(
                "⚠️ “{value}” does not fit. {hint}\n"
                "Nothing was changed: send another value, or /cancel."
            ).format(value=quote(text[:100]), hint=hint(setting))
        )
        return
    await state.clear()
    rendered = overview(team, _saved(team, setting))
    await message.answer(rendered.text, reply_markup=rendered.reply_markup)


async def cancel(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Cancelled. The settings stay as they were."))


async def ask_for_text(message: Message, state: FSMContext) -> None:
    setting = (await state.get_data()).get("setting", "")
    await message.answer(
        _("Send the new value as text. {hint}").format(
            hint=hint(setting) if setting in SHOWN else ""
        )
    )


async def _save(session: AsyncSession, member: User, team: Team, setting: str, text: str) -> Team:
    return await teams.update_team(
        session, name=team.name, values={setting: text}, actor=member, channel=Channel.BOT
    )


def _saved(team: Team, setting: str) -> str:
    return _("✅ Saved: {setting} is now {value}.").format(
        setting=label(setting), value=shown_value(team, setting)
    )
