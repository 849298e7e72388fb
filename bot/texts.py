"""Labels shared by many messages (roles, stages, channels, fields); escaping people's text."""

import html

from aiogram.utils.i18n import gettext as _

from core.models import Role


def quote(text: str | None) -> str:
    """Escape user-supplied text for Telegram's HTML parse mode, so it shows literally."""
    return html.escape(text or "", quote=False)


def role_label(role: str) -> str:
    labels = {
        Role.REP: _("sales rep"),
        Role.MANAGER: _("manager"),
        Role.FINANCE: _("finance"),
        Role.ADMIN: _("admin"),
    }
    return labels.get(Role(role), role)


def stage_label(stage: str) -> str:
    labels = {
        "first_contact": _("First contact"),
        "intent": _("Intent"),
        "invited": _("Invited"),
        "visited": _("Visited"),
        "viewing": _("Viewing"),
        "test_drive": _("Test drive"),
        "offer": _("Offer"),
        "deposit": _("Deposit"),
        "signed": _("Signed"),
        "paid": _("Paid"),
    }
    return labels.get(stage, stage)


def state_label(state: str) -> str:
    labels = {
        "pool": _("in the pool"),
        "offered": _("offered, waiting for a claim"),
        "owned": _("open"),
        "archived": _("lost"),
    }
    return labels.get(state, state)


def channel_label(channel: str) -> str:
    labels = {
        "call": _("📞 Call"),
        "visit": _("🏠 Visit"),
        "chat": _("💬 Chat"),
        "meeting": _("🤝 Meeting"),
        "note": _("📝 Note"),
    }
    return labels.get(channel, channel)


def intent_label(intent: str) -> str:
    labels = {"up": _("⬆️ Warmer"), "same": _("➡️ Same"), "down": _("⬇️ Colder")}
    return labels.get(intent, intent)


def field_label(field: str) -> str:
    labels = {
        "name": _("Name"),
        "phone": _("Phone"),
        "email": _("Email"),
        "budget": _("Budget"),
        "region": _("Region"),
        "house_type": _("House type"),
        "area": _("Area, m²"),
        "style": _("Style"),
        "district": _("District"),
        "rooms": _("Rooms"),
        "budget_range": _("Budget range"),
        "purpose": _("Purpose"),
        "make_model": _("Make and model"),
        "trade_in": _("Trade-in"),
    }
    return labels.get(field, field)


def source_label(source: str | None) -> str:
    labels = {
        "manual": _("entered by a rep"),
        "referral": _("referral"),
        "walk-in": _("walk-in"),
        "call": _("incoming call"),
        "contact": _("shared contact"),
        "other": _("other"),
    }
    return labels.get(source or "manual", source or "")


def score_factor_label(factor: str) -> str:
    labels = {
        "source": _("source"),
        "budget": _("budget known"),
        "profile": _("profile"),
        "recent": _("recent contact"),
        "intent": _("interest"),
    }
    return labels.get(factor, factor)
