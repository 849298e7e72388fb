"""Changing a lead: its stage, its fields, its tags, its photos and documents."""

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, tags
from core.contacts import clean_value, normalize_email, normalize_phone
from core.errors import InvalidInput
from core.models import Attachment, Channel, Lead, StageChange, Team, User, utcnow
from core.money import parse_amount
from core.permissions import lead_for
from core.pipelines import preset
from core.scoring import rescore

#: Fields of every lead a person may edit, besides the preset's profile fields.
BASIC_FIELDS = ("name", "phone", "email", "budget", "region")


async def move_stage(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    stage: str,
    now: datetime,
    channel: Channel = Channel.BOT,
) -> Lead:
    """Move the lead to a stage of its team's pipeline, kept in the stage history."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    team = await session.get_one(Team, lead.team_id)
    if stage not in preset(team.preset).stages:
        raise InvalidInput(f"{stage!r} is not a stage of this pipeline", code="stage_unknown")
    if stage == lead.stage:
        return lead
    session.add(
        StageChange(
            lead_id=lead.id, from_stage=lead.stage, to_stage=stage, actor_id=actor.id, at=now
        )
    )
    audit.lead_changed(
        session,
        lead.id,
        "stage",
        actor=actor,
        channel=channel,
        before={"stage": lead.stage},
        after={"stage": stage},
    )
    lead.stage = stage
    lead.last_touch_at = now
    await session.commit()
    return lead


async def for_change(session: AsyncSession, *, actor: User, lead_id: int) -> tuple[Lead, Team]:
    """The lead the actor is about to change, and its team: refused just as the change would be."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    return lead, await session.get_one(Team, lead.team_id)


def editable_fields(team: Team) -> tuple[str, ...]:
    return BASIC_FIELDS + tuple(
        name for name in preset(team.preset).profile_fields if name not in BASIC_FIELDS
    )


async def edit_field(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    field: str,
    value: str,
    channel: Channel = Channel.BOT,
) -> Lead:
    """Set one field from the text a person typed, checked the way a new lead's would be."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    team = await session.get_one(Team, lead.team_id)
    if field not in editable_fields(team):
        raise InvalidInput(f"{field!r} is not a field of this lead", code="field_unknown")
    text = clean_value(value)
    before = _field_value(lead, field)
    _set_field(lead, team, field, text)
    await rescore(session, lead, utcnow())
    audit.lead_changed(
        session,
        lead.id,
        "edit",
        actor=actor,
        channel=channel,
        before={field: before},
        after={field: _field_value(lead, field)},
    )
    await session.commit()
    return lead


def _set_field(lead: Lead, team: Team, field: str, text: str) -> None:
    if field == "phone":
        phone = normalize_phone(text, team.country)
        lead.phone_raw, lead.phone_e164, lead.phone_valid = phone.raw, phone.e164, phone.valid
    elif field == "email":
        lead.email = normalize_email(text)
    elif field == "budget":
        lead.budget, lead.budget_currency = parse_amount(text), team.currency
    elif field in ("name", "region"):
        setattr(lead, field, text)
    else:
        lead.profile = {**lead.profile, field: text}


def _field_value(lead: Lead, field: str) -> Any:
    if field == "phone":
        return lead.phone_e164
    if field in BASIC_FIELDS:
        value = getattr(lead, field)
        return None if value is None else str(value)
    return lead.profile.get(field)


async def add_tags(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    names: list[str],
    channel: Channel = Channel.BOT,
) -> list[str]:
    lead = await lead_for(session, actor, lead_id, edit=True)
    added = await tags.attach(session, lead, names)
    if added:
        audit.lead_changed(
            session, lead.id, "tag", actor=actor, channel=channel, after={"tags": added}
        )
    await session.commit()
    return await tags.of_lead(session, lead_id)


async def remove_tag(
    session: AsyncSession, *, actor: User, lead_id: int, name: str, channel: Channel = Channel.BOT
) -> list[str]:
    lead = await lead_for(session, actor, lead_id, edit=True)
    await tags.detach(session, lead, name)
    audit.lead_changed(
        session, lead.id, "untag", actor=actor, channel=channel, before={"tags": [name]}
    )
    await session.commit()
    return await tags.of_lead(session, lead_id)


async def attach_file(
    session: AsyncSession,
    *,
    actor: User,
    lead_id: int,
    kind: str,
    file_id: str,
    file_unique_id: str,
    file_name: str | None,
    caption: str | None,
    now: datetime,
) -> Attachment:
    """Keep a photo or document on the lead as Telegram file ids (the bytes stay in Telegram)."""
    lead = await lead_for(session, actor, lead_id, edit=True)
    attachment = Attachment(
        lead_id=lead.id or 0,
        kind=kind,
        file_id=file_id,
        file_unique_id=file_unique_id,
        file_name=file_name,
        caption=(caption or None) and caption[:1024],
        uploaded_by_id=actor.id,
        created_at=now,
    )
    session.add(attachment)
    lead.last_touch_at = now
    await session.commit()
    return attachment


async def attachments(session: AsyncSession, *, actor: User, lead_id: int) -> list[Attachment]:
    await lead_for(session, actor, lead_id)
    query = select(Attachment).where(Attachment.lead_id == lead_id).order_by(col(Attachment.id))
    return list((await session.exec(query)).all())
