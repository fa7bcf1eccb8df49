"""The store's handle: which connection each statement runs on, and its transactions.

The service's own replacement for `databases`' `Database` (docs/BENCHMARKS.md, "A store
layer of our own"). The API is the one the service already used: `fetch_all`, `fetch_one`,
`fetch_val`, `execute`, `execute_many`, `async with database.connection()` and `async with
database.transaction()`, nested transactions as savepoints. What it leaves out is what a
payment paid for on every statement: a `WeakKeyDictionary` from task to connection read
again at each step, a lock per statement on a connection only its task uses, a
`Connection` object's context entered for each statement, and a record class whose every
column read was a Python call. Here:

- The task's held session sits in a context variable with the task that took it: one C
  call to read, one identity check, so a child task (which inherits the variable) never
  runs a statement on its parent's connection; it takes its own, as under `databases`.
- A statement outside any held session borrows a connection for itself (backends.py).
- Rows are the drivers' own, read in C (results.py).

The backends (`sqlite_backend.py`, `postgres_backend.py`) implement the small contract in
backends.py; nothing here knows either driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.sql import ClauseElement

from server.store.backends import Backend, Session, TransactionHandle
from server.store.prepared import SQLValue
from server.store.results import LaterColumn, ResultRow

# What a statement is given as: a SQLAlchemy statement (a `Prepared` one's `Bound` among
# them) or plain SQL text.
Query = ClauseElement | str
# A statement's values by parameter name, given with the call (`database.fetch_val(sql, {...})`).
StatementValues = Mapping[str, SQLValue]


def built(query: Query, values: StatementValues | None) -> ClauseElement:
    """The statement to run: text with its values bound, or a statement given its values
    (as `databases` built them, so every call site reads as before)."""
    if isinstance(query, str):
        statement = text(query)
        return statement.bindparams(**values) if values is not None else statement
    if values:
        return query.values(**values)  # type: ignore[attr-defined,no-any-return]
    return query


class Database:
    """One store: a backend's connections, and the session each task holds."""

    def __init__(self, url: str, backend: Backend) -> None:
        self.url = url
        self.dialect_name = backend.dialect_name
        self.is_connected = False
        self._backend = backend
        # One variable per database: a task may hold sessions of two stores at once (a
        # backup copies one into another).
        self._held: ContextVar[Session | None] = ContextVar(f"store-session-{id(self)}", default=None)

    async def connect(self) -> None:
        if not self.is_connected:
            await self._backend.connect()
            self.is_connected = True

    async def disconnect(self) -> None:
        if self.is_connected:
            self.is_connected = False
            await self._backend.disconnect()

    @property
    def backend(self) -> Backend:
        return self._backend

    def held(self) -> Session | None:
        """The session the running task holds, if any."""
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            return session
        return None

    def connection(self) -> Connection:
        """`async with`: the task holds one connection until the block ends (nestable)."""
        return Connection(self)

    def transaction(self) -> Transaction:
        """`async with`: a transaction on the task's connection; a nested one is a savepoint."""
        return Transaction(self)

    # The three below read the held session as `held()` does, written out: one call less on
    # every statement, and a callback runs a dozen.

    async def fetch_all(self, query: Query, values: StatementValues | None = None) -> list[ResultRow]:
        if values is not None or isinstance(query, str):
            query = built(query, values)
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            return await session.fetch_all(query)
        return await self._backend.fetch_all(query)

    async def fetch_one(self, query: Query, values: StatementValues | None = None) -> ResultRow | None:
        if values is not None or isinstance(query, str):
            query = built(query, values)
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            return await session.fetch_one(query)
        return await self._backend.fetch_one(query)

    async def fetch_val(
        self, query: Query, values: StatementValues | None = None, column: int | str = 0
    ) -> Any:
        row = await self.fetch_one(query, values)
        return None if row is None else row[column]

    async def execute(self, query: Query, values: StatementValues | None = None) -> Any:
        """Run a statement; what it returns is the backend's (a RETURNING value, or SQLite's
        last row id or count), as under `databases`."""
        if values is not None or isinstance(query, str):
            query = built(query, values)
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            return await session.execute(query)
        return await self._backend.execute(query)

    async def execute_later(self, query: Query, values: StatementValues | None = None) -> None:
        """A write whose result nobody reads, which PostgreSQL may send with the transaction's
        next statement (or just before COMMIT) as a leading data-modifying CTE: one round trip
        fewer each. A next statement that cannot lead with a WITH (LOCK, SET, DDL) goes alone,
        after the writes. SQLite, and any statement outside a transaction, runs it now.

        Only for a write that nothing later in the transaction reads or writes again (the
        statement carrying it does not see its effect: one snapshot) and that cannot fail on
        its own terms, such as a key conflict (its error would surface from the carrying
        statement). A change's history row, the callback's mark and its push's noted result
        are such writes.
        """
        if values is not None or isinstance(query, str):
            query = built(query, values)
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            await session.execute_later(query)
        else:
            await self._backend.execute(query)

    async def fetch_column_later(self, query: Query, values: StatementValues | None = None) -> LaterColumn:
        """A statement whose RETURNING has one column that may wait, as `execute_later`'s
        writes do, and go with them and the other statements kept here in one round trip on
        PostgreSQL, sent by `send_kept()` or before the session's next statement. Its values
        are read from what it hands back once sent; SQLite, and any statement outside a
        transaction, runs it now.

        For statements that neither read nor write what another kept statement writes (all
        of them run in one snapshot) and lead with no WITH of their own, such as a payment's
        receipt claim, its tickets' codes and its e-mails' outbox rows. A kept statement that
        fails fails the statement that sends it.
        """
        if values is not None or isinstance(query, str):
            query = built(query, values)
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            return await session.fetch_column_later(query)
        return LaterColumn.of_rows(await self._backend.fetch_all(query))

    async def send_kept(self) -> None:
        """Send what the task's session keeps for later (`execute_later`,
        `fetch_column_later`), so the kept columns can be read."""
        session = self._held.get()
        if session is not None and session.task is asyncio.current_task():
            await session.send_kept()

    async def execute_many(self, query: Query, values: Sequence[StatementValues]) -> None:
        """One statement for each set of values, all on one connection."""
        async with self.connection():
            for one in values:
                await self.execute(built(query, one))


class Connection:
    """A `connection()` block: the outermost of a task's takes its session, and gives it
    back when it ends; the blocks inside it run on that session."""

    __slots__ = ("_database", "_session", "_token")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: Session | None = None
        self._token: Token[Session | None] | None = None

    async def __aenter__(self) -> Connection:
        database = self._database
        session = database.held()
        if session is None:
            session = await database._backend.open_session()
            self._token = database._held.set(session)
        self._session = session
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        session = self._session
        assert session is not None, "the connection was not entered"
        self._session = None
        if self._token is not None:
            token, self._token = self._token, None
            self._database._held.reset(token)
            await self._database._backend.close_session(session)

    @property
    def session(self) -> Session:
        assert self._session is not None, "the connection was not entered"
        return self._session


class Transaction:
    """A transaction on the task's session: BEGIN on the first level, a savepoint below it.
    Commits when the block ends, rolls back when it raises; either way the session is left,
    even when COMMIT or ROLLBACK itself fails."""

    __slots__ = ("_connection", "_database", "_handle")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Connection | None = None
        self._handle: TransactionHandle | None = None

    async def __aenter__(self) -> Transaction:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            await self.commit()
        else:
            await self.rollback()

    async def start(self) -> Transaction:
        connection = Connection(self._database)
        await connection.__aenter__()
        try:
            self._handle = await connection.session.begin()
        except BaseException:
            await connection.__aexit__(None, None, None)
            raise
        self._connection = connection
        return self

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        handle, connection = self._handle, self._connection
        assert handle is not None and connection is not None, "the transaction was not started"
        self._handle = self._connection = None
        try:
            await (handle.commit() if commit else handle.rollback())
        finally:
            await connection.__aexit__(None, None, None)
