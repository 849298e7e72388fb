"""Database engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

import asyncio
import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY as pg_array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import AdaptedConnection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
#: How long a writer waits for SQLite's one write lock before "database is locked".
_BUSY_SECONDS = 10
#: Connections kept open. On PostgreSQL every request in flight holds one while it waits for
#: the server (on SQLite only writers waiting for the write turn do, see `_InlineSession`);
#: with SQLAlchemy's default of 5 the ones beyond were opened and closed per request
#: (PostgreSQL's log-in): 20% of a lead's CPU at 16 requests in flight. A connection is only
#: opened when one more is needed at once.
_POOL_SIZE = 20
#: Key in a pooled connection's info while it holds the process's SQLite write turn.
_WRITE_TURN = "leadloop.sqlite_write_turn"
#: The most rows one multi-row statement carries (see `in_shapes`).
_LARGEST_PIECE = 64
_T = TypeVar("_T")


def async_url(url: str) -> sa.URL:
    """The URL with the async driver LeadLoop uses, whichever spelling the user wrote."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL mode and enforced foreign keys on every connection."""
    target = async_url(url)
    sqlite = target.get_backend_name() == "sqlite"
    in_memory = sqlite and target.database in (None, "", ":memory:")
    if sqlite and not in_memory:
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    if sqlite:
        kwargs.setdefault("async_creator", partial(_InlineSQLite.open, target.database))
    if not in_memory:  # one connection is the whole of an in-memory database: no pool size
        kwargs.setdefault("pool_size", _POOL_SIZE)
        # The connection returned last is handed out next: it has the statements prepared
        # (asyncpg prepares each one per connection). In turns, all twenty prepared all of
        # them, and leads paid for it long after a start (PostgreSQL's log: `parse` lines).
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_async_engine(target, **kwargs)
    if sqlite:
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _WriteTurns().listen(engine)
    else:
        sa.event.listen(engine.sync_engine, "connect", _learn_array_types)
    return engine


#: The array types LeadLoop's statements pass as parameters (`unnest` of one array a column).
_ARRAY_TYPES = (
    "varchar", "text", "integer", "bigint", "boolean", "float8", "numeric",
    "date", "timestamptz", "jsonb", "bytea",
)  # fmt: skip


def _learn_array_types(dbapi_connection: Any, _record: Any) -> None:
    """Have a new PostgreSQL connection learn the array types before its first request.

    asyncpg knows the built-in types but not their arrays: it looks each up in the server's
    catalog the first time a statement on that connection uses it, 5-12 ms a lookup. A
    lead's statements use several, so the first leads on each new connection took ~50 ms
    more than the rest; asked together, here, they take one lookup.
    """
    casts = ", ".join(f"${n}::{name}[]" for n, name in enumerate(_ARRAY_TYPES, start=1))
    dbapi_connection.run_async(lambda connection: connection.prepare(f"SELECT {casts}"))


class _InlineCalls:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, here."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(None if result is aiosqlite.core._STOP_RUNNING_SENTINEL else result)


class _InlineSQLite(aiosqlite.Connection):
    """aiosqlite's connection with every sqlite3 call made on the event loop's own thread.

    aiosqlite hands each call to a worker thread and wakes the event loop with its
    result: measured here at 300-450 µs of CPU per statement, against ~70 µs for the same
    statement on a plain connection, so most of a lead's intake went to those hand-overs.
    A local SQLite statement takes tens of microseconds, less than the hand-over itself,
    so it runs inline. Writers never wait on each other inside the process (they take
    turns, see `_WriteTurns`); only another process holding SQLite's write lock (a CLI
    command committing) makes the loop wait, for as long as that commit takes.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineCalls()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Make the sqlite3 call here and now: no future to create and wait on for each."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Generator[Any, None, "_InlineSQLite"]:
        return self._connect().__await__()

    @classmethod
    async def open(cls, database: str | None) -> "_InlineSQLite":
        return await cls(partial(sqlite3.connect, database or ":memory:", check_same_thread=False))


def _locks_rows(context: Any) -> bool:
    """A SELECT … FOR UPDATE (which SQLite leaves out): it takes the write turn instead, so
    that what it read stays true until its transaction commits, as with row locks."""
    statement = getattr(getattr(context, "compiled", None), "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


class _WriteTurns:
    """One SQLite writer at a time per event loop, the others queued on an asyncio lock.

    SQLite lets one connection write at a time. A second writer that finds the database
    locked sleeps in SQLite's busy handler (naps of 1, 2, 5 … 100 ms, whoever wakes first
    wins), so under load writers miss the moment the lock is free and latency grows long
    tails. Here a connection takes the turn before its first writing statement (where
    Python's sqlite3 begins the transaction) and gives it back when it returns to the pool,
    that is after its commit or rollback: writers run back to back in arrival order. Reads
    take no turn (WAL lets them run beside the writer), except those that would lock rows.
    Other processes still meet SQLite's own lock and busy timeout.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def listen(self, engine: AsyncEngine) -> None:
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._before_execute)
        sa.event.listen(engine.sync_engine.pool, "checkin", self._checkin)

    def _before_execute(
        self, conn: sa.Connection, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        if _WRITE_TURN in conn.info:
            return
        if statement.lstrip()[:6].upper() in ("SELECT", "PRAGMA") and not _locks_rows(context):
            return
        lock = self._lock()
        adapted = conn.connection.dbapi_connection
        assert isinstance(adapted, AdaptedConnection)
        # Event hooks are synchronous; run_async awaits on the event loop from inside them.
        adapted.run_async(lambda _driver: self._acquire(lock))
        conn.info[_WRITE_TURN] = lock

    def _checkin(self, _dbapi_connection: Any, record: Any) -> None:
        lock = record.info.pop(_WRITE_TURN, None)
        if lock is not None:
            lock.release()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    @staticmethod
    async def _acquire(lock: asyncio.Lock) -> None:
        try:
            async with asyncio.timeout(_BUSY_SECONDS):
                await lock.acquire()
        except TimeoutError:
            # What SQLite itself raises when its busy timeout runs out.
            raise sqlite3.OperationalError("database is locked") from None


class _InlineSession(AsyncSession):
    """A session that ends in its caller's task, for SQLite's inline connections.

    SQLAlchemy's `async with session` closes it in a task of its own, so that a cancellation
    cannot stop the close halfway through and strand the connection. The caller then waits
    for a turn of the event loop with the connection still checked out: under load 20 to 30
    connections were out at once (the whole pool and its overflow) although every statement
    had long ended, each holding ~0.4 MiB of SQLite's memory. On SQLite the close runs
    inline and never suspends, so a cancellation cannot land in the middle of it.
    """

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for one unit of work each (an update, a request, a job run, a CLI command)."""
    kind = _InlineSession if engine.dialect.name == "sqlite" else AsyncSession
    return async_sessionmaker(engine, class_=kind, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads that need no transaction around them (rendering a push).

    On PostgreSQL each statement then runs on its own, without the BEGIN and ROLLBACK that
    cost two round trips and ~0.2 ms of CPU a session (0.35 instead of 0.53 ms for one read).
    Nothing written in one would be rolled back: they are for reading only.
    """
    if not is_postgres(engine):
        return session_factory(engine)
    return session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


@contextlib.asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is all undone at the end: its commits only end savepoints."""
    async with engine.connect() as connection:
        await connection.begin()
        if engine.dialect.name == "sqlite":
            # Python's sqlite3 begins a transaction only before a write, and a SAVEPOINT
            # outside one is a transaction of its own that its RELEASE commits.
            await connection.exec_driver_sql("BEGIN")
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await connection.rollback()


@cache
def insert_or_ignore(dialect: str, table: sa.Table, *conflict: str) -> sa.Insert:
    """INSERT … ON CONFLICT (conflict) DO NOTHING in the dialect's words, built once.

    Values go in as the execution's parameters. A repeated key then never aborts the
    transaction that carries the real change.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict))


@dataclass(frozen=True)
class Rows:
    """Rows to add to one table (each with the same keys), for `insert_together`."""

    table: sa.Table
    rows: Sequence[dict[str, Any]]
    #: A unique key's columns: a row whose key is taken is skipped (empty: none may be).
    unique: tuple[str, ...] = ()


#: What one statement is prepared for: the table, the rows' columns, the unique key.
_Shape = tuple[sa.Table, tuple[str, ...], tuple[str, ...]]


async def insert_together(session: AsyncSession, writes: Sequence[Rows]) -> None:
    """Add rows to several tables: on PostgreSQL in one statement, one round trip.

    Under load a statement costs more in its round trip and its fixed CPU than in its rows.
    SQLite, in this process, has no round trip to save: each table's rows go in a statement
    of their own.
    """
    writes = [write for write in writes if write.rows]
    if not writes:
        return
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        for write in writes:
            await session.exec(_insert(dialect, write), params=write.rows)
        return
    statement = _together(tuple(_shape(write) for write in writes))
    params = {
        name: value for number, write in enumerate(writes) for name, value in _arrays(write, number)
    }
    await session.exec(statement, params=params)


async def insert_returning(
    session: AsyncSession, write: Rows, returning: Sequence[sa.Column[Any]]
) -> list[sa.Row[Any]]:
    """Add the rows (skipping those whose unique key is taken); `returning` of each row
    added, in no particular order: include what tells the rows apart."""
    if not write.rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = _returning(_shape(write), tuple(returning))
        return list(await session.exec(statement, params=dict(_arrays(write, 0))))
    statement = _insert(dialect, write).returning(*returning)
    added: list[sa.Row[Any]] = []
    for piece in in_shapes(write.rows):
        added += await session.exec(statement, params=piece)
    return added


def _insert(dialect: str, write: Rows) -> sa.Insert:
    """The rows' INSERT, one parameter per value: the rows go in as the execution's."""
    if write.unique:
        return insert_or_ignore(dialect, write.table, *write.unique)
    return sa.insert(write.table)


def _shape(write: Rows) -> _Shape:
    return write.table, tuple(write.rows[0]), write.unique


def _arrays(write: Rows, number: int) -> list[tuple[str, list[Any]]]:
    """The rows as one array per column, named as `_from_arrays` names them."""
    return [(f"w{number}_{key}", [row[key] for row in write.rows]) for key in write.rows[0]]


@cache
def _together(shapes: tuple[_Shape, ...]) -> sa.Insert:
    """The tables' INSERTs in one statement: all but the last as data-modifying CTEs."""
    *first, last = [_from_arrays(*shape, number) for number, shape in enumerate(shapes)]
    return last.add_cte(*(insert.cte(f"w{number}") for number, insert in enumerate(first)))


@cache
def _returning(shape: _Shape, returning: tuple[sa.Column[Any], ...]) -> sa.Insert:
    return _from_arrays(*shape, 0).returning(*returning)


@cache
def _from_arrays(
    table: sa.Table, keys: tuple[str, ...], unique: tuple[str, ...], number: int
) -> sa.Insert:
    """PostgreSQL's INSERT of rows given as one array per column (`unnest`): the statement
    is the same for any number of rows, prepared once per connection, and its parameters
    are a few arrays that asyncpg encodes, not one Python-processed value per cell."""
    # Typed parameters: asyncpg's dialect casts each ($1::INTEGER[]), which unnest needs.
    arrays = [sa.bindparam(f"w{number}_{key}", type_=pg_array(table.c[key].type)) for key in keys]
    rows = sa.func.unnest(*arrays).table_valued(*keys).render_derived(name=f"r{number}")
    insert = pg_insert(table).from_select(list(keys), sa.select(*rows.c))
    return insert.on_conflict_do_nothing(index_elements=list(unique)) if unique else insert


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def autovacuum_off(engine: AsyncEngine) -> bool:
    """Whether the database is a PostgreSQL whose autovacuum is off.

    Then nothing keeps the planner's statistics current: without them PostgreSQL takes a
    growing table for a small one, and reads that should use an index read the whole table
    (intake on this project's benchmark: 25% slower by 6,000 leads).
    """
    if not is_postgres(engine):
        return False
    async with engine.connect() as connection:
        return (await connection.exec_driver_sql("SHOW autovacuum")).scalar_one() == "off"


def in_shapes(rows: Sequence[_T]) -> list[Sequence[_T]]:
    """The rows in pieces of a few sizes only (powers of two, at most 64: 13 → 8, 4, 1).

    A multi-row statement (`INSERT … VALUES (…), (…) RETURNING`, `IN (…)`) is a statement of
    its own for each number of rows, and each connection keeps the ones it prepared (SQLite's
    cache holds 128, a wide one ~150 KB): with groups of any size from 1 to 64 the server grew
    by ~15 MiB per connection; in these sizes, at most seven shapes of each are kept.
    """
    pieces: list[Sequence[_T]] = []
    start = 0
    while start < len(rows):
        size = min(_LARGEST_PIECE, 1 << ((len(rows) - start).bit_length() - 1))
        pieces.append(rows[start : start + size])
        start += size
    return pieces
