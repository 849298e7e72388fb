"""aiogram FSM storage kept in the database (see core/conversations.py)."""

from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import conversations


def storage_key(key: StorageKey) -> str:
    parts = [key.bot_id, key.chat_id, key.user_id, key.thread_id, key.business_connection_id]
    return ":".join("" if part is None else str(part) for part in parts) + f":{key.destiny}"


class DatabaseStorage(BaseStorage):
    """Conversation state as rows: it survives restarts and is shared by every instance."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.sessions() as session:
            await conversations.save_state(session, storage_key(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.sessions() as session:
            row = await conversations.load(session, storage_key(key))
        return row.state if row else None

    async def set_data(self, key: StorageKey, data: dict[str, Any]) -> None:
        async with self.sessions() as session:
            await conversations.save_data(session, storage_key(key), data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.sessions() as session:
            row = await conversations.load(session, storage_key(key))
        return dict(row.data) if row else {}

    async def close(self) -> None:
        """Nothing to close: sessions are opened per call."""
