"""Rendering outbox rows: each kind of push becomes text in its reader's language."""

import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import offer_pushes
from bot.rendering import Reader, Rendered
from bot.texts import quote
from core import users
from core.languages import locale_of
from core.models import OutboxMessage, Team, User

log = logging.getLogger(__name__)


def leads_reassigned(params: dict[str, Any], reader: Reader) -> Rendered:
    count = len(params["lead_ids"])
    text = _(
        "{leaver} has left the team: {count} of their open leads is yours now.",
        "{leaver} has left the team: {count} of their open leads are yours now.",
        count,
    )
    return Rendered(text.format(leaver=quote(params["leaver"]), count=count))


def leads_to_pool(params: dict[str, Any], reader: Reader) -> Rendered:
    count = len(params["lead_ids"])
    text = _(
        "{leaver} has left the team: {count} of their open leads went to the team's pool.",
        "{leaver} has left the team: {count} of their open leads went to the team's pool.",
        count,
    )
    return Rendered(text.format(leaver=quote(params["leaver"]), count=count))


def lead_assigned(params: dict[str, Any], reader: Reader) -> Rendered:
    text = _("{by} handed you the lead {name} (#{id}).").format(
        by=quote(params["by"]), name=f"<b>{quote(params['lead_name'])}</b>", id=params["lead_id"]
    )
    return Rendered(text + "\n" + _("Open it: /lead {id}").format(id=params["lead_id"]))


def duplicate_request(params: dict[str, Any], reader: Reader) -> Rendered:
    """To the owner and the managers: another rep met their customer and asks about them."""
    text = _("{requester} met your customer {lead} (#{id}) and asks about them.").format(
        requester=quote(params["requester"]),
        lead=f"<b>{quote(params['lead_name'])}</b>",
        id=params["lead_id"],
    )
    return Rendered(text + "\n" + _("Open it: /lead {id}").format(id=params["lead_id"]))


RENDERERS: dict[str, Callable[[dict[str, Any], Reader], Rendered]] = {
    "duplicate_request": duplicate_request,
    "lead_assigned": lead_assigned,
    "leads_reassigned": leads_reassigned,
    "leads_to_pool": leads_to_pool,
    **offer_pushes.RENDERERS,
}


class PushRenderer:
    """Renders an outbox row for the person who will read it, at the moment it is sent."""

    def __init__(self, i18n: I18n, default_timezone: str) -> None:
        self.i18n = i18n
        self.default_timezone = default_timezone

    async def __call__(self, session: AsyncSession, message: OutboxMessage) -> Rendered | None:
        renderer = RENDERERS.get(message.kind)
        if renderer is None:
            log.error("outbox row %s has unknown kind %r", message.id, message.kind)
            return None
        recipient, team = await self._readers_rows(session, message)
        if recipient is not None and not (recipient.is_active and recipient.reachable):
            return None
        reader = self._reader(recipient, team)
        # Pushes render outside any update, so the i18n context must be set here.
        with self.i18n.context(), self.i18n.use_locale(reader.locale):
            return renderer(message.params, reader)

    @staticmethod
    async def _readers_rows(
        session: AsyncSession, message: OutboxMessage
    ) -> tuple[User | None, Team | None]:
        """The recipient and their team in one query (a team's group: the team alone)."""
        if message.recipient_id is not None:
            recipient, team = await users.with_team(session, message.recipient_id)
            if recipient is not None:
                return recipient, team
        team_id = message.params.get("team_id")
        return None, await session.get(Team, team_id) if team_id is not None else None

    def _reader(self, recipient: User | None, team: Team | None) -> Reader:
        """A person reads in their language; a team's group in the team's."""
        locale = locale_of(recipient, team, self.i18n.default_locale)
        zone = (recipient and recipient.timezone) or (team and team.timezone)
        return Reader(
            locale=locale,
            timezone=ZoneInfo(zone or self.default_timezone),
            currency=team.currency if team else "USD",
        )
