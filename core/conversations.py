"""Bot conversation state as rows, so a half-finished guided entry survives restarts.

Any instance serving the bot reads the same rows, so several instances can share one bot.
"""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import ConversationState, utcnow


async def load(session: AsyncSession, key: str) -> ConversationState | None:
    return await session.get(ConversationState, key)


async def save_state(session: AsyncSession, key: str, state: str | None) -> None:
    row = await _row(session, key)
    row.state = state
    await _save(session, row)


async def save_data(session: AsyncSession, key: str, data: dict[str, Any]) -> None:
    row = await _row(session, key)
    row.data = dict(data)
    await _save(session, row)


async def _row(session: AsyncSession, key: str) -> ConversationState:
    return await load(session, key) or ConversationState(key=key)


async def _save(session: AsyncSession, row: ConversationState) -> None:
    if row.state is None and not row.data:
        if await session.get(ConversationState, row.key) is not None:
            await session.delete(row)
    else:
        row.updated_at = utcnow()
        session.add(row)
    await session.commit()
