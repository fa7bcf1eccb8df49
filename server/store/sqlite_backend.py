"""SQLite, run on the event loop's own thread with statements compiled once.

Profiles of the throughput benchmark (docs/BENCHMARKS.md) showed where a callback's time
went with `databases`' own SQLite backend: a new aiosqlite connection, and so a new thread
and a fresh parse of the schema, for every statement outside a transaction; three thread
hops per statement (execute, fetch, close) with the GIL handed over each time; and
SQLAlchemy compiling every statement from scratch (~0.5 ms, fifteen times the ~30 µs that
SQLite needs to run it). This backend removes all three:

- Two connections, opened once: a writer and a reader. WAL lets the reader see the last
  commit while the writer is in a transaction; a read when no transaction holds the writer
  runs on the writer, whose page cache its own commits leave warm (`for_reading`).
- WAL checkpoints, with their disk syncs, run on a thread of their own
  (`sqlite_checkpoints.py`), not inside a COMMIT on the loop.
- Statements run synchronously on the loop's thread: an indexed read or a small write on a
  local file takes tens of microseconds, less than one hop to a thread. Nothing can wait on
  a lock there: busy_timeout is 0 and a busy database is retried with `asyncio.sleep`, so
  another process writing the same file makes this one wait, never block its loop.
- Writers take turns on an `asyncio.Lock`: a transaction holds the writer connection from
  `BEGIN IMMEDIATE` to its end; a single write statement holds it for that statement.
- Compiled statements are cached by SQLAlchemy's own cache key, as SQLAlchemy's engine
  does; the values of each execution are read from the new statement
  (`sqlite_statements.py`).
- Rows are `sqlite3.Row`s, read by name in C (results.py).

`synchronous=NORMAL` (WAL): a commit is durable when the process crashes, not when the
machine loses power (the last commits may roll back then). A callback lost that way is
not a lost payment: the expiry pass asks PayHero for the transaction's status first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.sql import ClauseElement

from server.store.failures import StoreConflict, StoreError, StoreUnavailable, store_error, translating
from server.store.results import LaterColumn, ResultRow
from server.store.sqlite_checkpoints import SAFETY_NET_FRAMES, Checkpointer
from server.store.sqlite_statements import Statements, sqlite_dialect

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

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.writer: sqlite3.Connection | None = None
        self.reader: sqlite3.Connection | None = None
        self.write_lock = asyncio.Lock()
        self.statements = Statements(sqlite_dialect())
        self.checkpoints = Checkpointer(path)

    async def open(self) -> None:
        # Retried like any statement: a connect-time PRAGMA meets "database is locked" while
        # another process starting at the same moment switches the file to WAL.
        self.writer = await self.retry_busy(self._connect)
        self.reader = await self.retry_busy(self._connect)
        self.checkpoints.start()

    def _connect(self) -> sqlite3.Connection:
        # timeout=0: a busy database raises at once and is retried without blocking the loop.
        # check_same_thread=False: tests may open it on one loop's thread and use it on another.
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        # Rows read by name or position in C (results.py).
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints are the checkpoint thread's (sqlite_checkpoints.py); SQLite's own
            # automatic one stays as a safety net, far out.
            connection.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_FRAMES}")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        self.checkpoints.stop()
        for connection in (self.writer, self.reader):
            if connection is not None:
                connection.close()
        self.writer = self.reader = None

    def for_reading(self) -> sqlite3.Connection:
        """The connection a read outside any transaction runs on: the writer when no
        transaction holds it, else the reader.

        SQLite empties a WAL connection's whole page cache when it starts reading after
        another connection wrote; the reader, used for every read, re-read each page it
        needed from the file after every commit. The writer's cache stays warm across its
        own commits. Picked at each try, on the loop's thread, with nothing awaited before
        the statement runs: a transaction that begins while a busy read waits to retry
        never lends it its uncommitted rows."""
        connection = self.reader if self.write_lock.locked() else self.writer
        assert connection is not None, "database not connected"
        return connection

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


class SQLiteSession:
    """One task's view of the file: the writer while its transaction is open; otherwise the
    reader for a read, and the writer, on the writers' turn, for a single write."""

    __slots__ = ("file", "in_transaction", "task")

    def __init__(self, file: SQLiteFile, task: asyncio.Task[Any] | None) -> None:
        self.file = file
        self.task = task
        self.in_transaction: sqlite3.Connection | None = None

    async def _run(self, query: ClauseElement, use: Callable[[sqlite3.Cursor], T]) -> T:
        try:
            return await self._run_sqlite(query, use)
        except Exception as exc:
            error = store_error(exc, classify)
            if error is None:
                raise
            raise error from exc

    async def _run_sqlite(self, query: ClauseElement, use: Callable[[sqlite3.Cursor], T]) -> T:
        sql, args = self.file.statements.prepare(query)

        def run(connection: sqlite3.Connection) -> T:
            cursor = connection.execute(sql, args)
            try:
                return use(cursor)
            finally:
                cursor.close()

        if self.in_transaction is not None:
            return run(self.in_transaction)
        file = self.file
        if not is_write(query):
            return await file.retry_busy(lambda: run(file.for_reading()))
        async with file.write_lock:
            assert file.writer is not None, "database not connected"
            writer = file.writer
            written = await file.retry_busy(lambda: run(writer))
        file.checkpoints.committed()
        return written

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]:
        return await self._run(query, _all_rows)

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None:
        # An UPDATE … RETURNING makes all its changes at the first step: one row is enough.
        return await self._run(query, _first_row)

    async def execute(self, query: ClauseElement) -> Any:
        return await self._run(query, _written)

    async def execute_later(self, query: ClauseElement) -> None:
        # Now: a statement here is a call on the loop, not a round trip worth saving.
        await self._run(query, _written)

    async def fetch_column_later(self, query: ClauseElement) -> LaterColumn:
        # Read now, as `execute_later` writes now.
        return LaterColumn.of_rows(await self._run(query, _all_rows))

    async def send_kept(self) -> None:
        return  # nothing is ever kept here

    async def begin(self) -> SQLiteTransaction:
        transaction = SQLiteTransaction(self)
        with translating(classify):
            await transaction.start()
        return transaction


def _all_rows(cursor: sqlite3.Cursor) -> list[ResultRow]:
    return cursor.fetchall()


def _first_row(cursor: sqlite3.Cursor) -> ResultRow | None:
    return cast(ResultRow | None, cursor.fetchone())


def _written(cursor: sqlite3.Cursor) -> int:
    # As `databases` answered: the new row's id for an INSERT, else the rows changed.
    return cursor.rowcount if cursor.lastrowid == 0 else cast(int, cursor.lastrowid)


class SQLiteTransaction:
    """A root transaction takes the writers' turn and the writer from BEGIN to its end; one
    inside it is a savepoint."""

    __slots__ = ("_is_root", "_savepoint", "_session")

    def __init__(self, session: SQLiteSession) -> None:
        self._session = session
        self._is_root = session.in_transaction is None
        self._savepoint = ""

    async def start(self) -> None:
        owner = self._session
        if not self._is_root:
            assert owner.in_transaction is not None
            self._savepoint = f"SAVEPOINT_{uuid.uuid4().hex}"
            owner.in_transaction.execute(f"SAVEPOINT {self._savepoint}")
            return
        file = owner.file
        await file.write_lock.acquire()
        try:
            writer = file.writer
            assert writer is not None, "database not connected"
            # IMMEDIATE: the file's write lock now, not at the first write.
            await file.retry_busy(lambda: writer.execute("BEGIN IMMEDIATE"))
        except BaseException:
            file.write_lock.release()
            raise
        owner.in_transaction = writer

    async def commit(self) -> None:
        with translating(classify):
            await self._commit()

    async def _commit(self) -> None:
        writer = self._session.in_transaction
        assert writer is not None
        if not self._is_root:
            writer.execute(f"RELEASE SAVEPOINT {self._savepoint}")
            return
        file = self._session.file
        try:
            await file.retry_busy(lambda: writer.execute("COMMIT"))
        except BaseException:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise
        finally:
            self._end()
        file.checkpoints.committed()

    async def rollback(self) -> None:
        with translating(classify):
            await self._rollback()

    async def _rollback(self) -> None:
        writer = self._session.in_transaction
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
        self._session.in_transaction = None
        self._session.file.write_lock.release()


class SQLiteBackend:
    """A SQLite file: sessions cost nothing to open, as the file's two connections are shared."""

    dialect_name = "sqlite"

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self.file = SQLiteFile(path, busy_timeout)
        # Statements outside any session: the same view a session has outside a transaction.
        self._free = SQLiteSession(self.file, None)

    async def connect(self) -> None:
        with translating(classify):
            await self.file.open()

    async def disconnect(self) -> None:
        self.file.close()

    async def open_session(self) -> SQLiteSession:
        return SQLiteSession(self.file, asyncio.current_task())

    async def close_session(self, session: Any) -> None:
        """Nothing to give back: a transaction has ended before its session is closed."""

    async def fetch_all(self, query: ClauseElement) -> list[ResultRow]:
        return await self._free.fetch_all(query)

    async def fetch_one(self, query: ClauseElement) -> ResultRow | None:
        return await self._free.fetch_one(query)

    async def execute(self, query: ClauseElement) -> Any:
        return await self._free.execute(query)

    def raw_connection(self) -> sqlite3.Connection:
        """The reader, for tests that read a statement's query plan."""
        assert self.file.reader is not None, "database not connected"
        return self.file.reader
