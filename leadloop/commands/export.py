"""`leadloop export leads`: every lead as CSV (stdout by default) or XLSX."""

import enum
import io
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import export
from core.settings import Settings
from leadloop.runtime import fail, run_in_session, say

app = typer.Typer(help="Spreadsheet exports.", no_args_is_help=True)


class Format(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@app.command()
def leads(
    format: Annotated[Format, typer.Option("--format", help="csv or xlsx.")] = Format.CSV,
    output: Annotated[
        Path | None, typer.Option(help="File to write (default: standard output).")
    ] = None,
) -> None:
    """Every lead of every team and state, a header row first."""
    if format is Format.XLSX and output is None and sys.stdout.isatty():
        fail("XLSX is binary: give --output FILE or redirect standard output")

    async def work(session: AsyncSession, _: Settings) -> int:
        if format is Format.CSV:
            if output is None:
                return await export.write_csv(session, sys.stdout)
            with output.open("w", newline="", encoding="utf-8") as file:
                return await export.write_csv(session, file)
        if output is not None:
            return await export.write_xlsx(session, str(output))
        buffer = io.BytesIO()
        count = await export.write_xlsx(session, buffer)
        sys.stdout.buffer.write(buffer.getvalue())
        return count

    count = run_in_session(work)
    say(f"exported {count} leads" + (f" to {output}" if output else ""))
