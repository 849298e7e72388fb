"""A database that refuses a kind of write, as a full disk or a broken constraint would."""

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


async def refuse(
    session: AsyncSession, *, event: str, table: str, when: str | None = None, on: bool = True
) -> None:
    """From now on (`on`), or no longer, every `event` on `table` (where `when` holds) fails."""
    sqlite = session.bind is not None and session.bind.dialect.name == "sqlite"
    if sqlite:
        condition = f"WHEN {when}" if when else ""
        statements = (
            [
                f"CREATE TRIGGER refuse BEFORE {event} ON {table} {condition} "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ]
            if on
            else ["DROP TRIGGER refuse"]
        )
    else:
        condition = f"WHEN ({when})" if when else ""
        statements = (
            [
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
                f"CREATE TRIGGER refuse BEFORE {event} ON {table} FOR EACH ROW {condition} "
                "EXECUTE FUNCTION refuse()",
            ]
            if on
            else [f"DROP TRIGGER refuse ON {table}", "DROP FUNCTION refuse()"]
        )
    for statement in statements:
        await session.exec(text(statement))  # type: ignore[call-overload]
    await session.commit()
