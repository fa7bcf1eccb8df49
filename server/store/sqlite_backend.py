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
  does; the values of each execution are read from the new statement.

`synchronous=NORMAL` (WAL): a commit is durable when the process crashes, not when the
machine loses power (the last commits may roll back then). A callback lost that way is
not a lost payment: the expiry pass asks PayHero for the transaction's status first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, TypeVar

from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.sqlite import CompilationContext, SQLiteBackend, SQLiteConnection
from databases.interfaces import TransactionBackend
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from server.store.errors import StoreConflict, StoreError, StoreUnavailable, translating
from server.store.prepared import Bound, positional_args

T = TypeVar("T")

_READS = ("SELECT", "WITH", "EXPLAIN")
# Compiled statements kept; the service has a few dozen distinct shapes.
_CACHE_SIZE = 512
# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "sqlite-on-loop"
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
    """What a `sqlite3` error means for the service (server/store/errors.py)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code in _CONFLICT_CODES:
            return StoreConflict
        if isinstance(code, int) and code & 0xFF in _UNAVAILABLE_CODES:
            return StoreUnavailable
        if code is None and isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            return StoreUnavailable
    return None


class _Compiled:
    """A statement shape compiled once, with what is needed to read its rows."""

    __slots__ = (
        "column_maps",
        "compiled",
        "context",
        "expanding",
        "expands",
        "metadata",
        "processors",
        "result_columns",
        "texts",
    )

    def __init__(self, compiled: Any, context: CompilationContext) -> None:
        self.compiled = compiled
        self.context = context
        self.result_columns = compiled._result_columns
        self.column_maps = create_column_maps(self.result_columns)
        self.metadata: CursorResultMetaData | None = None
        # IN (...) lists and other values rendered into the SQL at execution: the text
        # then depends on the values, so those statements take SQLAlchemy's slower path.
        self.expands = bool(compiled.post_compile_params or compiled.literal_execute_params)
        self.processors: dict[str, Any] = dict(compiled._bind_processors)
        # When every such value is an IN list, the text depends only on the lists' lengths:
        # it is made once per combination of lengths, and the values are laid out here.
        plain_lists = not compiled.literal_execute_params and all(
            bind.expanding and not bind.literal_execute for bind in compiled.post_compile_params
        )
        self.expanding: frozenset[str] | None = (
            frozenset(compiled.bind_names[bind] for bind in compiled.post_compile_params)
            if plain_lists
            else None
        )
        self.texts: dict[tuple[int, ...], str] = {}


class SQLiteFile:
    """The process's two connections to one SQLite file, and its writers' turn."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.writer: sqlite3.Connection | None = None
        self.reader: sqlite3.Connection | None = None
        self.write_lock = asyncio.Lock()
        self.cache: dict[Any, _Compiled] = {}

    def open(self) -> None:
        self.writer = self._connect()
        self.reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # timeout=0: a busy database raises at once and is retried without blocking the loop.
        # check_same_thread=False: tests may open it on one loop's thread and use it on another.
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        connection.execute("PRAGMA synchronous=NORMAL")
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

    async def _run(self, query: ClauseElement, use: Callable[[sqlite3.Cursor, _Compiled | None], T]) -> T:
        with translating(classify):
            return await self._run_sqlite(query, use)

    async def _run_sqlite(
        self, query: ClauseElement, use: Callable[[sqlite3.Cursor, _Compiled | None], T]
    ) -> T:
        sql, args, entry = self._prepare(query)

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

    def _records(self, cursor: sqlite3.Cursor, entry: _Compiled | None, rows: Sequence[Any]) -> list[Record]:
        if entry is None:
            raise TypeError("rows need a compiled statement")
        metadata: Any = entry.metadata
        if metadata is None:
            # `databases` passes its CompilationContext where SQLAlchemy expects a result.
            metadata = entry.metadata = CursorResultMetaData(entry.context, cursor.description)  # type: ignore[arg-type]
        processors, keymap = metadata._processors, metadata._keymap
        return [
            Record(
                Row(metadata, processors, keymap, row), entry.result_columns, self._dialect, entry.column_maps
            )
            for row in rows
        ]

    async def fetch_all(self, query: ClauseElement) -> list[Any]:
        return await self._run(query, lambda cursor, entry: self._records(cursor, entry, cursor.fetchall()))

    async def fetch_one(self, query: ClauseElement) -> Record | None:
        def one(cursor: sqlite3.Cursor, entry: _Compiled | None) -> Record | None:
            # An UPDATE … RETURNING makes all its changes at the first step: one row is enough.
            row = cursor.fetchone()
            return None if row is None else self._records(cursor, entry, [row])[0]

        return await self._run(query, one)

    async def execute(self, query: ClauseElement) -> Any:
        def result(cursor: sqlite3.Cursor, entry: _Compiled | None) -> Any:
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

    def _prepare(self, query: ClauseElement) -> tuple[str, Sequence[Any], _Compiled | None]:
        """SQL text, positional values and the (cached) compilation of `query`."""
        if isinstance(query, DDLElement):
            return str(query.compile(dialect=self._dialect)), (), None
        if isinstance(query, Bound):
            return self._prepare_bound(query)
        key = query._generate_cache_key()
        entry = None if key is None else self._file.cache.get(key.key)
        if entry is None:
            entry = self._compiled(query.compile(dialect=self._dialect, cache_key=key))
            if key is not None:
                if len(self._file.cache) >= _CACHE_SIZE:
                    self._file.cache.clear()
                self._file.cache[key.key] = entry
        compiled = entry.compiled
        # The values come from this statement, mapped onto the cached compilation's names.
        extracted = None if key is None else key.bindparams
        if not entry.expands:
            params = compiled.construct_params(extracted_parameters=extracted)
            processors = entry.processors
            args = [
                processors[name](params[name]) if name in processors else params[name]
                for name in compiled.positiontup or ()
            ]
            return compiled.string, args, entry
        if entry.expanding is not None:
            return self._expand_lists(
                entry, compiled.construct_params(extracted_parameters=extracted, escape_names=False)
            )
        params = compiled.construct_params(extracted_parameters=extracted, escape_names=False)
        state = compiled.construct_expanded_state(params)
        processors, values = state.processors, state.parameters
        args = [
            processors[name](values[name]) if name in processors else values[name]
            for name in state.positiontup or ()
        ]
        return state.statement, args, entry

    def _prepare_bound(self, bound: Bound) -> tuple[str, list[Any], _Compiled]:
        """A prepared statement: compiled on first use, then only its values are laid out."""
        cache = bound.prepared.cache
        entry: _Compiled | None = cache.get(_PREPARED_KEY)
        if entry is None:
            compiled = bound.prepared.statement.compile(dialect=self._dialect)
            entry = cache[_PREPARED_KEY] = self._compiled(compiled)
        compiled = entry.compiled
        return compiled.string, positional_args(compiled, bound.values, compiled.positiontup or ()), entry

    def _expand_lists(self, entry: _Compiled, params: dict[str, Any]) -> tuple[str, list[Any], _Compiled]:
        compiled, expanding, processors = entry.compiled, entry.expanding, entry.processors
        assert expanding is not None
        names = compiled.positiontup or ()
        lengths = tuple(len(params[name]) for name in names if name in expanding)
        text = entry.texts.get(lengths)
        if text is None:
            text = entry.texts[lengths] = compiled.construct_expanded_state(params).statement
        args: list[Any] = []
        for name in names:
            process = processors.get(name)
            values = params[name] if name in expanding else (params[name],)
            args.extend(process(value) if process else value for value in values)
        return text, args, entry

    def _compiled(self, compiled: Any) -> _Compiled:
        # What `databases` needs to turn rows into Records, as its own backend builds it.
        context: Any = self._dialect.execution_ctx_cls()
        context.dialect = self._dialect
        context.result_column_struct = (
            compiled._result_columns,
            compiled._ordered_columns,
            compiled._textual_ordered_columns,
            compiled._ad_hoc_textual,
            compiled._loose_column_name_matching,
        )
        return _Compiled(compiled, CompilationContext(context))


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
        self._file = SQLiteFile(self._pool._database, float(options.get("timeout", 5.0)))

    async def connect(self) -> None:
        with translating(classify):
            self._file.open()

    async def disconnect(self) -> None:
        self._file.close()
        await super().disconnect()

    def connection(self) -> LoopSQLiteConnection:
        return LoopSQLiteConnection(self._file, self._dialect)
