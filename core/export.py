"""Spreadsheet exports: every lead of every team as CSV or XLSX.

XLSX is written with XlsxWriter (streaming, constant memory, no formulas unless asked).
Free-text cells are guarded against formula injection: a cell a spreadsheet would run as a
formula gets a leading apostrophe. The phone column is E.164 and left as it is.
"""

import csv
from collections.abc import AsyncIterator
from typing import IO, Any

import xlsxwriter
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Lead, LeadTag, Tag, Team, User

COLUMNS = (
    "id",
    "name",
    "phone",
    "email",
    "source",
    "campaign",
    "owner",
    "team",
    "state",
    "stage",
    "grade",
    "budget",
    "currency",
    "tags",
    "created",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Columns whose text comes from outside (customers, forms, reps) and so must be guarded.
_FREE_TEXT = {"name", "email", "source", "campaign", "owner", "team", "tags"}
_BATCH = 1000


def guard_cell(value: str) -> str:
    """Make text that a spreadsheet would evaluate as a formula show literally."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


async def lead_rows(session: AsyncSession) -> AsyncIterator[list[str]]:
    """One row of text per lead, in id order, streamed in batches."""
    owner = aliased(User)
    last_id = 0
    while True:
        query = (
            select(Lead, owner.display_name, Team.name)
            .join(Team, col(Team.id) == Lead.team_id)
            .join(owner, col(owner.id) == Lead.owner_id, isouter=True)
            .where(col(Lead.id) > last_id)
            .order_by(col(Lead.id))
            .limit(_BATCH)
        )
        batch = (await session.exec(query)).all()
        if not batch:
            return
        tags = await _tags_of(session, [lead.id for lead, _, _ in batch])
        for lead, owner_name, team_name in batch:
            yield _row(lead, owner_name, team_name, tags.get(lead.id, []))
        last_id = batch[-1][0].id


async def _tags_of(session: AsyncSession, lead_ids: list[Any]) -> dict[int, list[str]]:
    query = (
        select(LeadTag.lead_id, Tag.name)
        .join(Tag, col(Tag.id) == LeadTag.tag_id)
        .where(col(LeadTag.lead_id).in_(lead_ids))
        .order_by(col(Tag.name))
    )
    tags: dict[int, list[str]] = {}
    for lead_id, name in (await session.exec(query)).all():
        tags.setdefault(lead_id, []).append(name)
    return tags


def _row(lead: Lead, owner_name: str | None, team_name: str, tags: list[str]) -> list[str]:
    values: dict[str, Any] = {
        "id": lead.id,
        "name": lead.name,
        "phone": lead.phone_e164 or "",
        "email": lead.email,
        "source": lead.source,
        "campaign": lead.campaign,
        "owner": owner_name,
        "team": team_name,
        "state": lead.state,
        "stage": lead.stage,
        "grade": lead.grade,
        "budget": lead.budget,
        "currency": lead.budget_currency if lead.budget is not None else None,
        "tags": " ".join(tags),
        "created": lead.created_at.isoformat(timespec="seconds"),
    }
    return [
        guard_cell(text) if column in _FREE_TEXT else text
        for column, text in ((c, "" if values[c] is None else str(values[c])) for c in COLUMNS)
    ]


async def write_csv(session: AsyncSession, out: IO[str]) -> int:
    """Write the header and every lead as CSV; returns the number of leads."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    async for row in lead_rows(session):
        writer.writerow(row)
        count += 1
    return count


async def write_xlsx(session: AsyncSession, out: str | IO[bytes]) -> int:
    """Write the header and every lead as an XLSX sheet, every cell as text.

    A file path streams rows to disk in constant memory; a stream gets the finished file.
    """
    options = {"constant_memory": True} if isinstance(out, str) else {"in_memory": True}
    workbook = xlsxwriter.Workbook(out, options)
    sheet = workbook.add_worksheet("Leads")
    sheet.write_row(0, 0, COLUMNS, workbook.add_format({"bold": True}))
    count = 0
    async for row in lead_rows(session):
        count += 1
        for column, text in enumerate(row):
            sheet.write_string(count, column, text)
    workbook.close()
    return count
