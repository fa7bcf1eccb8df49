"""SQLite for `databases`, run on the event loop's own thread with statements compiled once.

Profiles of the throughput benchmark (docs/BENCHMARKS.md) showed where a callback's time
went with `databases`' own SQLite backend: a new aiosqlite connection, and so a new thread
and a fresh parse of the schema, for every statement outside a transaction; three thread
hops per statement (execute, fetch, close) with the GIL handed over each time; and
SQLAlchemy compiling every statement from scratch (~0.5 ms, fifteen times the ~30 µs that
SQLite needs to run it). This backend keeps the `databases` API and removes all three:

- Two connections, opened once: a writer and a reader. WAL lets the reader see the last
  commit while the writer is in a transaction.
- Statements run synchronously on the loop's thread: an indexed read or a small write on a
  local file takes tens of microseconds, less than one hop to a thread. Nothing can wait on
  a lock there: busy_timeout is 0 and a busy database is retried with `asyncio.sleep`, so
  another process writing the same file makes this one wait, never block its loop.
- Writers take turns on an `asyncio.Lock`: a transaction holds the writer connection from
  `BEGIN IMMEDIATE` to its end; a single write statement holds it for that statement.
- Compiled statements are cached by SQLAlchemy's own cache key, as SQLAlchemy's engine
  does; the values of each execution are read from the new statement
  (`sqlite_statements.py`).

`synchronous=NORMAL` (WAL): a commit is durable when the process crashes, not when the
machine loses power (the last commits may roll back then). A callback lost that way is
not a lost payment: the expiry pass asks PayHero for the transaction's status first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from databases.backends.common.records import Record
from databases.backends.sqlite import SQLiteBackend, SQLiteConnection
from databases.interfaces import TransactionBackend
from sqlalchemy.sql import ClauseElement

from server.store.failures import StoreConflict, StoreError, StoreUnavailable, translating
from server.store.sqlite_statements import Compiled, Statements

T = TypeVar("T")

_READS = ("SELECT", "WITH", "EXPLAIN")
_BUSY_RETRY_FIRST = 0.001
_BUSY_RETRY_MAX = 0.05


def is_write(query: ClauseElement) -> bool:
    """Whether a statement may write: anything but a plain SELECT (or CTE, or EXPLAIN)."""
    if getattr(query, "is_select", False):
        return False
    text = str(getattr(query, "text", "") or "").lstrip().upper()
    return not text.startswith(_READS)


def _busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


# SQLite's primary result codes that mean "not now" rather than "wrong": busy or locked
# past the busy timeout, out of memory, interrupted, a disk that fails or is full, a file
# that cannot be opened, a WAL locking protocol error.
_UNAVAILABLE_CODES = frozenset({5, 6, 7, 9, 10, 13, 14, 15})
# SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE; other constraints are bugs.
_CONFLICT_CODES = frozenset({1555, 2067})


def classify(exc: Exception) -> type[StoreError] | None:
    """What a `sqlite3` error means for the service (server/store/failures.py)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code in _CONFLICT_CODES:
            return StoreConflict
        if isinstance(code, int) and code & 0xFF in _UNAVAILABLE_CODES:
            return StoreUnavailable
        if code is None and isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            return StoreUnavailable
    return None


class SQLiteFile:
    """The process's two connections to one SQLite file, and its writers' turn."""

    def __init__(self, path: str, busy_timeout: float, dialect: Any) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.writer: sqlite3.Connection | None = None
        self.reader: sqlite3.Connection | None = None
        self.write_lock = asyncio.Lock()
        self.statements = Statements(dialect)

    async def open(self) -> None:
        # Retried like any statement: a connect-time PRAGMA meets "database is locked" while
        # another process starting at the same moment switches the file to WAL.
        self.writer = await self.retry_busy(self._connect)
        self.reader = await self.retry_busy(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # timeout=0: a busy database raises at once and is retried without blocking the loop.
        # check_same_thread=False: tests may open it on one loop's thread and use it on another.
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        for connection in (self.writer, self.reader):
            if connection is not None:
                connection.close()
        self.writer = self.reader = None

    async def retry_busy(self, run: Callable[[], T]) -> T:
        """`run()` now; while another process holds the file, again after a short sleep."""
        deadline = time.monotonic() + self.busy_timeout
        delay = _BUSY_RETRY_FIRST
        while True:
            try:
                return run()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BUSY_RETRY_MAX)


class LoopSQLiteConnection(SQLiteConnection):
    """One task's view: the writer while its transaction is open, else the reader (or a turn)."""

    def __init__(self, file: SQLiteFile, dialect: Any) -> None:
        super().__init__(None, dialect)  # type: ignore[arg-type]
        self._file = file
        self._in_transaction: sqlite3.Connection | None = None

    async def acquire(self) -> None:
        """Nothing to take: the connections are the file's, borrowed per statement."""

    async def release(self) -> None:
        """Nothing to give back."""

    async def _run(self, query: ClauseElement, use: Callable[[sqlite3.Cursor, Compiled | None], T]) -> T:
        with translating(classify):
            return await self._run_sqlite(query, use)

    async def _run_sqlite(
        self, query: ClauseElement, use: Callable[[sqlite3.Cursor, Compiled | None], T]
    ) -> T:
        sql, args, entry = self._file.statements.prepare(query)

        def run(connection: sqlite3.Connection) -> T:
            cursor = connection.execute(sql, args)
            try:
                return use(cursor, entry)
            finally:
                cursor.close()

        if self._in_transaction is not None:
            return run(self._in_transaction)
        file = self._file
        if not is_write(query):
            assert file.reader is not None, "database not connected"
            reader = file.reader
            return await file.retry_busy(lambda: run(reader))
        async with file.write_lock:
            assert file.writer is not None, "database not connected"
            writer = file.writer
            return await file.retry_busy(lambda: run(writer))

    async def fetch_all(self, query: ClauseElement) -> list[Any]:
        return await self._run(
            query, lambda cursor, entry: self._file.statements.records(cursor, entry, cursor.fetchall())
        )

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        def one(cursor: sqlite3.Cursor, entry: Compiled | None) -> Record | None:
            # An UPDATE … RETURNING makes all its changes at the first step: one row is enough.
            row = cursor.fetchone()
            return None if row is None else self._file.statements.records(cursor, entry, [row])[0]

        return await self._run(query, one)

    async def execute(self, query: ClauseElement) -> Any:
        def result(cursor: sqlite3.Cursor, entry: Compiled | None) -> Any:
            return cursor.rowcount if cursor.lastrowid == 0 else cursor.lastrowid

        return await self._run(query, result)

    async def execute_many(self, queries: list[ClauseElement]) -> None:
        for query in queries:
            await self.execute(query)

    async def iterate(self, query: ClauseElement) -> AsyncGenerator[Any, None]:
        for record in await self.fetch_all(query):
            yield record

    def transaction(self) -> LoopSQLiteTransaction:
        return LoopSQLiteTransaction(self)

    @property
    def raw_connection(self) -> Any:
        connection = self._in_transaction or self._file.reader
        assert connection is not None, "database not connected"
        return connection


class LoopSQLiteTransaction(TransactionBackend):
    """A root transaction takes the writers' turn and the writer from BEGIN to its end."""

    def __init__(self, connection: LoopSQLiteConnection) -> None:
        self._connection = connection
        self._is_root = False
        self._savepoint = ""

    async def start(self, is_root: bool, extra_options: dict[Any, Any]) -> None:
        with translating(classify):
            await self._start(is_root)

    async def _start(self, is_root: bool) -> None:
        owner = self._connection
        self._is_root = is_root
        if not is_root:
            assert owner._in_transaction is not None
            self._savepoint = f"SAVEPOINT_{uuid.uuid4().hex}"
            owner._in_transaction.execute(f"SAVEPOINT {self._savepoint}")
            return
        file = owner._file
        await file.write_lock.acquire()
        try:
            writer = file.writer
            assert writer is not None, "database not connected"
            # IMMEDIATE: the file's write lock now, not at the first write.
            await file.retry_busy(lambda: writer.execute("BEGIN IMMEDIATE"))
        except BaseException:
            file.write_lock.release()
            raise
        owner._in_transaction = writer

    async def commit(self) -> None:
        with translating(classify):
            await self._commit()

    async def _commit(self) -> None:
        writer = self._connection._in_transaction
        assert writer is not None
        if not self._is_root:
            writer.execute(f"RELEASE SAVEPOINT {self._savepoint}")
            return
        try:
            await self._connection._file.retry_busy(lambda: writer.execute("COMMIT"))
        except BaseException:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise
        finally:
            self._end()

    async def rollback(self) -> None:
        with translating(classify):
            await self._rollback()

    async def _rollback(self) -> None:
        writer = self._connection._in_transaction
        assert writer is not None
        if not self._is_root:
            writer.execute(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
            writer.execute(f"RELEASE SAVEPOINT {self._savepoint}")
            return
        try:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
        finally:
            self._end()

    def _end(self) -> None:
        self._connection._in_transaction = None
        self._connection._file.write_lock.release()


class LoopSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: Any, **options: Any) -> None:
        super().__init__(database_url, **options)
        self._file = SQLiteFile(self._pool._database, float(options.get("timeout", 5.0)), self._dialect)

    async def connect(self) -> None:
        with translating(classify):
            await self._file.open()

    async def disconnect(self) -> None:
        self._file.close()
        await super().disconnect()

    def connection(self) -> LoopSQLiteConnection:
        return LoopSQLiteConnection(self._file, self._dialect)
