"""PostgreSQL through asyncpg's pool, statements compiled once, errors translated at the
boundary (server/store/failures.py).

A session is one pool connection held by a task; a statement outside a session borrows one
for itself. Rows are asyncpg's own records. A `Prepared` statement is compiled once per
process and only its values laid out on each call (postgres_statements.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import asyncpg
from asyncpg.pool import Pool
from sqlalchemy.sql import ClauseElement

from server.store.failures import StoreConflict, StoreError, StoreUnavailable, store_error, translating
from server.store.postgres_statements import CARRIERS, PostgresStatements, carried, gathered
from server.store.postgres_url import postgres_target
from server.store.results import LaterColumn, ResultRow

# The server or the network says "not now": connection errors (SQLSTATE class 08), too
# many clients or out of resources (53), shut down or not accepting connections yet (57),
# a deadlock or serialization victim (40). Plus the client side of a dropped connection.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TransactionRollbackError,
    # Raised while the pool resets a connection the server just dropped.
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def classify(exc: Exception) -> type[StoreError] | None:
    """What an asyncpg error met while running a statement means for the service."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return StoreConflict
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable
    # "connection is closed", "pool is closing"; not a value the driver cannot encode
    # (its client-side DataError is a ValueError too).
    if isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, ValueError):
        return StoreUnavailable
    return None


def classify_connecting(exc: Exception) -> type[StoreError] | None:
    """Any refusal while opening a connection is the store being unavailable: a database not
    accepting connections (55000) or a role past its connection limit are server errors
    that mean nothing else there."""
    if isinstance(exc, asyncpg.PostgresError):
        return StoreUnavailable
    return classify(exc)


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to send.

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` on every release, and a statement outside a session borrows and gives back a
    connection: 8.5 of a callback's 29 round trips (docs/BENCHMARKS.md). The service keeps
    no session state to undo: no LISTEN, no SET, no session advisory lock (the migration's
    is transaction-scoped), no cursor outside a transaction. A transaction left open is
    still rolled back by asyncpg before this is called.
    """


class PostgresTransaction:
    """asyncpg's transaction (a savepoint when one is open), its ends translated. The writes
    the session holds for its next statement go before COMMIT, and are dropped on ROLLBACK
    (everything still held was written inside the level rolled back: beginning a level
    sends what was held before it)."""

    __slots__ = ("_session", "_transaction")

    def __init__(self, session: PostgresSession, transaction: Any) -> None:
        self._session = session
        self._transaction = transaction

    async def commit(self) -> None:
        try:
            await self._session.send_kept()
        except BaseException:
            with contextlib.suppress(Exception):
                await self._transaction.rollback()
            raise
        with translating(classify):
            await self._transaction.commit()

    async def rollback(self) -> None:
        self._session.writes.clear()
        self._session.fetches.clear()
        with translating(classify):
            await self._transaction.rollback()


class PostgresSession:
    """A pool connection a task holds; its statements run on it one at a time.

    `execute_later` keeps a write inside a transaction for the next statement to carry, as
    leading data-modifying CTEs: one round trip where there were two (sessions.py says which
    writes may be kept). `fetch_column_later` keeps a statement whose column is read: those
    go, with the writes, in one statement of their own before the next one (or at
    `send_kept`), which returns each one's column as an array."""

    __slots__ = ("connection", "fetches", "statements", "task", "writes")

    def __init__(self, connection: Any, statements: PostgresStatements) -> None:
        self.connection = connection
        self.statements = statements
        self.task = asyncio.current_task()
        self.writes: list[tuple[str, list[Any]]] = []
        self.fetches: list[tuple[str, list[Any], LaterColumn]] = []

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]:
        sql, args = self.statements.compile(query)
        if self.fetches:
            await self.send_kept()
        if self.writes:
            sql, args = await self._carrying(sql, args)
        try:
            return cast(list[ResultRow], await self.connection.fetch(sql, *args))
        except Exception as exc:
            error = store_error(exc, classify)
            if error is None:
                raise
            raise error from exc

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None:
        sql, args = self.statements.compile(query)
        if self.fetches:
            await self.send_kept()
        if self.writes:
            sql, args = await self._carrying(sql, args)
        return await self._fetch_row(sql, args)

    async def _fetch_row(self, sql: str, args: list[Any]) -> ResultRow | None:
        try:
            return cast(ResultRow | None, await self.connection.fetchrow(sql, *args))
        except Exception as exc:
            error = store_error(exc, classify)
            if error is None:
                raise
            raise error from exc

    async def execute(self, query: ClauseElement) -> Any:
        sql, args = self.statements.compile(query)
        if self.fetches:
            await self.send_kept()
        if self.writes:
            sql, args = await self._carrying(sql, args)
        return await self._execute(sql, args)

    async def _execute(self, sql: str, args: list[Any]) -> Any:
        try:
            return await self.connection.fetchval(sql, *args)
        except Exception as exc:
            error = store_error(exc, classify)
            if error is None:
                raise
            raise error from exc

    async def execute_later(self, query: ClauseElement) -> None:
        if not self.connection.is_in_transaction():
            await self.execute(query)  # nothing would be sure to carry it
            return
        self.writes.append(self.statements.compile(query))

    async def fetch_column_later(self, query: ClauseElement) -> LaterColumn:
        if not self.connection.is_in_transaction():
            # Nothing would be sure to send it: now.
            return LaterColumn.of_rows(await self.fetch_all(query))
        later = LaterColumn()
        sql, args = self.statements.compile(query)
        self.fetches.append((sql, args, later))
        return later

    async def send_kept(self) -> None:
        """Send everything kept for the next statement in one statement of its own: the kept
        fetches with the writes before them, or, with no fetch kept, the last write carrying
        the others."""
        if self.fetches:
            fetches, self.fetches = self.fetches, []
            writes, self.writes = self.writes, []
            row = await self._fetch_row(*gathered(writes, [(fetch, values) for fetch, values, _ in fetches]))
            assert row is not None, "a SELECT without FROM returns its one row"
            for (_, _, later), values in zip(fetches, row, strict=True):
                later.fill(list(values))
        elif self.writes:
            sql, args = self.writes.pop()
            await self._execute(*self._led_by_writes(sql, args))

    async def _carrying(self, sql: str, args: list[Any]) -> tuple[str, list[Any]]:
        """`sql` with the kept writes before it; a statement that cannot lead with a WITH
        (LOCK, SET, DDL) goes alone, after them."""
        if not sql.lstrip()[:6].upper().startswith(CARRIERS):
            await self.send_kept()
            return sql, args
        return self._led_by_writes(sql, args)

    def _led_by_writes(self, sql: str, args: list[Any]) -> tuple[str, list[Any]]:
        """`sql` led by every write kept, which it takes from the session."""
        writes, self.writes = self.writes, []
        return carried(writes, sql, args) if writes else (sql, args)

    async def begin(self) -> PostgresTransaction:
        await self.send_kept()  # a savepoint's ROLLBACK must not undo them
        transaction = self.connection.transaction()
        with translating(classify):
            await transaction.start()
        return PostgresTransaction(self, transaction)


class PostgresBackend:
    dialect_name = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        min_size: int,
        max_size: int,
        statement_timeout: float | None = None,
        acquire_timeout: float | None = None,
    ) -> None:
        self.target = postgres_target(url)
        self.statements = PostgresStatements()
        # How long a request waits for a pool connection, opening one included (None: as
        # long as it takes).
        self.acquire_timeout = acquire_timeout
        self._options: dict[str, Any] = {"min_size": min_size, "max_size": max_size, "reset": keep_session}
        if statement_timeout is not None:
            self._options["server_settings"] = {"statement_timeout": str(int(statement_timeout * 1000))}
            self._options["command_timeout"] = statement_timeout + 1.0
        if acquire_timeout is not None:
            self._options["timeout"] = acquire_timeout  # asyncpg's connect timeout (60 s by default)
        self._pool: Pool | None = None

    async def connect(self) -> None:
        assert self._pool is None, "already connected"
        with translating(classify_connecting):
            self._pool = await asyncpg.create_pool(**self.target.connect_kwargs(), **self._options)

    async def disconnect(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _acquire(self) -> Any:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the PostgreSQL pool is not open")
        with translating(classify_connecting):
            if self.acquire_timeout is None:
                return await pool.acquire()
            # TimeoutError past the limit: every connection busy or the server not answering.
            async with asyncio.timeout(self.acquire_timeout):
                return await pool.acquire()

    async def _release(self, connection: Any) -> None:
        assert self._pool is not None
        with translating(classify):
            await self._pool.release(connection)

    async def open_session(self) -> PostgresSession:
        return PostgresSession(await self._acquire(), self.statements)

    async def close_session(self, session: Any) -> None:
        await self._release(session.connection)

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]:
        session = await self.open_session()
        try:
            return await session.fetch_all(query)
        finally:
            await self._release(session.connection)

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None:
        session = await self.open_session()
        try:
            return await session.fetch_one(query)
        finally:
            await self._release(session.connection)

    async def execute(self, query: ClauseElement) -> Any:
        session = await self.open_session()
        try:
            return await session.execute(query)
        finally:
            await self._release(session.connection)

    @property
    def pool(self) -> Pool | None:
        return self._pool
