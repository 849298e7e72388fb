"""Rendering outbox rows: each kind of push becomes text in its reader's language."""

import logging
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import offer_pushes
from bot.rendering import Reader, Readers, Rendered
from bot.texts import quote
from core import users
from core.languages import locale_of
from core.models import Team, User
from core.outbox import Due

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
    """Renders outbox rows for the people who will read them, at the moment each is sent.

    The readers of the rows about to be sent are read first, in one query (`readers`): a
    read per push was a third of the sender's CPU at a self-hosted Bot API's pace.
    """

    def __init__(self, i18n: I18n, default_timezone: str) -> None:
        self.i18n = i18n
        self.default_timezone = default_timezone

    @staticmethod
    async def readers(session: AsyncSession, messages: Sequence[Due]) -> Readers:
        """Each row's recipient and their team; a team's group (no recipient): the team."""
        people = await users.with_teams(
            session, [m.recipient_id for m in messages if m.recipient_id is not None]
        )
        groups = [m for m in messages if m.recipient_id not in people]
        teams = await users.teams_by_id(
            session, [m.params["team_id"] for m in groups if m.params.get("team_id") is not None]
        )
        return {
            m.id: people[m.recipient_id]
            if m.recipient_id in people
            else (None, teams.get(m.params.get("team_id")))
            for m in messages
        }

    def __call__(self, message: Due, readers: Readers) -> Rendered | None:
        renderer = RENDERERS.get(message.kind)
        if renderer is None:
            log.error("outbox row %s has unknown kind %r", message.id, message.kind)
            return None
        recipient, team = readers.get(message.id, (None, None))
        if recipient is not None and not (recipient.is_active and recipient.reachable):
            return None
        reader = self._reader(recipient, team)
        # Pushes render outside any update, so the i18n context must be set here.
        with self.i18n.context(), self.i18n.use_locale(reader.locale):
            return renderer(message.params, reader)

    def _reader(self, recipient: User | None, team: Team | None) -> Reader:
        """A person reads in their language; a team's group in the team's."""
        locale = locale_of(recipient, team, self.i18n.default_locale)
        zone = (recipient and recipient.timezone) or (team and team.timezone)
        return Reader(
            locale=locale,
            timezone=ZoneInfo(zone or self.default_timezone),
            currency=team.currency if team else "USD",
        )
