"""PostgreSQL for `databases`, with `Prepared` statements compiled once, and asyncpg's errors
translated into the store's own (server/store/failures.py).

`databases`' asyncpg backend compiles every statement on every call. For a `Bound`
prepared statement this one reuses the compilation and only lays out the values; any
other statement goes the stock way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from databases.backends.common.records import Record, create_column_maps
from databases.backends.postgres import PostgresBackend, PostgresConnection, PostgresTransaction
from sqlalchemy.sql import ClauseElement

from server.store.failures import StoreConflict, StoreError, StoreUnavailable, translating
from server.store.prepared import ArgumentLayout, Bound

# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "postgres-asyncpg"

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


class TranslatingPostgresTransaction(PostgresTransaction):
    async def start(self, is_root: bool, extra_options: dict[Any, Any]) -> None:
        with translating(classify):
            await super().start(is_root, extra_options)

    async def commit(self) -> None:
        with translating(classify):
            await super().commit()

    async def rollback(self) -> None:
        with translating(classify):
            await super().rollback()


class PreparedPostgresConnection(PostgresConnection):
    async def acquire(self) -> None:
        limit = getattr(self._database, "acquire_timeout", None)
        with translating(classify_connecting):
            # TimeoutError past the limit: every connection busy or the server not answering.
            async with asyncio.timeout(limit):
                await super().acquire()

    async def release(self) -> None:
        with translating(classify):
            await super().release()

    async def fetch_all(self, query: ClauseElement) -> list[Any]:
        with translating(classify):
            if isinstance(query, Bound):
                text, args, columns, maps = self._prepared(query)
                rows = await self._raw().fetch(text, *args)
                return [Record(row, columns, self._dialect, maps) for row in rows]
            return await super().fetch_all(query)

    async def fetch_one(self, query: ClauseElement) -> Any:
        with translating(classify):
            if isinstance(query, Bound):
                text, args, columns, maps = self._prepared(query)
                row = await self._raw().fetchrow(text, *args)
                return None if row is None else Record(row, columns, self._dialect, maps)
            return await super().fetch_one(query)

    async def execute(self, query: ClauseElement) -> Any:
        with translating(classify):
            return await super().execute(query)

    async def execute_many(self, queries: list[ClauseElement]) -> None:
        with translating(classify):
            await super().execute_many(queries)

    async def iterate(self, query: ClauseElement) -> AsyncGenerator[Any, None]:
        with translating(classify):
            async for record in super().iterate(query):
                yield record

    def _raw(self) -> asyncpg.Connection:
        assert self._connection is not None, "Connection is not acquired"
        return self._connection

    def transaction(self) -> TranslatingPostgresTransaction:
        return TranslatingPostgresTransaction(connection=self)

    def _compile(self, query: ClauseElement) -> tuple[str, list[Any], Any]:
        if not isinstance(query, Bound):
            return super()._compile(query)
        text, args, columns, _ = self._prepared(query)
        return text, args, columns

    def _prepared(self, query: Bound) -> tuple[str, list[Any], Any, Any]:
        """SQL text, this call's values, result columns and their maps, compiled once."""
        cache = query.prepared.cache
        entry = cache.get(_PREPARED_KEY)
        if entry is None:
            compiled = query.prepared.statement.compile(dialect=self._dialect)
            # Numbered as `databases` numbers them: the parameter names, sorted.
            names = tuple(sorted(compiled.params))
            text = compiled.string % {name: f"${number}" for number, name in enumerate(names, start=1)}
            # `databases` rebuilds these maps for every fetch, compiling each labelled
            # column's SQL again to name it: 8% of a PostgreSQL callback's samples.
            maps = create_column_maps(compiled._result_columns)
            entry = cache[_PREPARED_KEY] = (compiled, ArgumentLayout(compiled, names), text, maps)
        compiled, layout, text, maps = entry
        return text, layout.args(query.values), compiled._result_columns, maps


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to send.

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` on every release, and `databases` releases after every statement run outside a
    transaction: 8.5 of a callback's 29 round trips (docs/BENCHMARKS.md). The service keeps no
    session state to undo: no LISTEN, no SET, no session advisory lock (the migration's is
    transaction-scoped), no cursor outside a transaction. A transaction left open is still
    rolled back by asyncpg before this is called.
    """


class PreparedPostgresBackend(PostgresBackend):
    # How long a request waits for a pool connection (None: as long as it takes).
    acquire_timeout: float | None = None

    async def connect(self) -> None:
        # Ours, not asyncpg's: taken out before the options reach its pool.
        self.acquire_timeout = self._options.pop("acquire_timeout", None)
        self._options.setdefault("reset", keep_session)
        with translating(classify_connecting):
            await super().connect()

    def connection(self) -> PreparedPostgresConnection:
        return PreparedPostgresConnection(self, self._dialect)
