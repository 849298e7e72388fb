"""Labels shared by many messages: roles, and escaping of text that came from people."""

import html

from aiogram.utils.i18n import gettext as _

from core.models import Role


def role_label(role: str) -> str:
    labels = {
        Role.REP: _("sales rep"),
        Role.MANAGER: _("manager"),
        Role.FINANCE: _("finance"),
        Role.ADMIN: _("admin"),
    }
    return labels.get(Role(role), role)


def quote(text: str) -> str:
    """Escape user-supplied text for Telegram's HTML parse mode, so it shows literally."""
    return html.escape(text, quote=False)
