"""Statements for the on-loop SQLite backend, compiled once, and their rows read as Records.

Compiled statements are cached by SQLAlchemy's own cache key, as SQLAlchemy's engine does;
the values of each execution are read from the new statement. This module, with
`postgres_backend.py` and `prepared.py`, is where the store leans on private names of
SQLAlchemy and `databases`: they are listed in `server/store/internals.py` and checked
against the installed versions by tests/test_store_internals.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.sqlite import CompilationContext
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from server.store.prepared import ArgumentLayout, Bound

# Compiled statements kept; the service has a few dozen distinct shapes.
_CACHE_SIZE = 512
# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "sqlite-on-loop"


class SQLiteRow(Row):
    """`databases`' row, given SQLAlchemy's own key map (a key's index), so that its
    `_mapping` is SQLAlchemy's `RowMapping`, read in C: `databases`' `Row.__getitem__` took
    a Python call per column, 25 for an order made into an `OrderRow`."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | slice):
            return super(Row, self).__getitem__(key)
        return super(Row, self).__getitem__(self._key_to_index[key])


class SQLiteRecord(Record):
    """A record whose `_mapping` is the row's `RowMapping`: a mapping by column name, as
    `databases`' record gives on PostgreSQL (asyncpg's record), not a sequence of values."""

    __slots__ = ()

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return self._row._mapping  # type: ignore[no-any-return]


class Compiled:
    """A statement shape compiled once, with what is needed to read its rows."""

    __slots__ = (
        "column_maps",
        "compiled",
        "context",
        "expanding",
        "expands",
        "layout",
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
        # Per parameter name, SQLAlchemy's conversion of a value to what sqlite3 takes.
        self.processors: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
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
        # A prepared statement's values, laid out without SQLAlchemy (`_prepare_bound`).
        self.layout: ArgumentLayout | None = None


class Statements:
    """One SQLite file's compiled statements, for the dialect of its backend."""

    def __init__(self, dialect: Any) -> None:
        self._dialect = dialect
        self.cache: dict[Any, Compiled] = {}

    def records(self, cursor: sqlite3.Cursor, entry: Compiled | None, rows: Sequence[Any]) -> list[Record]:
        if entry is None:
            raise TypeError("rows need a compiled statement")
        metadata: Any = entry.metadata
        if metadata is None:
            # `databases` passes its CompilationContext where SQLAlchemy expects a result.
            metadata = entry.metadata = CursorResultMetaData(entry.context, cursor.description)  # type: ignore[arg-type]
        processors, key_to_index = metadata._processors, metadata._key_to_index
        return [
            SQLiteRecord(
                SQLiteRow(metadata, processors, key_to_index, row),
                entry.result_columns,
                self._dialect,
                entry.column_maps,
            )
            for row in rows
        ]

    def prepare(self, query: ClauseElement) -> tuple[str, Sequence[Any], Compiled | None]:
        """SQL text, positional values and the (cached) compilation of `query`."""
        if isinstance(query, DDLElement):
            return str(query.compile(dialect=self._dialect)), (), None
        if isinstance(query, Bound):
            return self._prepare_bound(query)
        key = query._generate_cache_key()
        entry = None if key is None else self.cache.get(key.key)
        if entry is None:
            entry = self._compile(query.compile(dialect=self._dialect, cache_key=key))
            if key is not None:
                if len(self.cache) >= _CACHE_SIZE:
                    self.cache.clear()
                self.cache[key.key] = entry
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

    def _prepare_bound(self, bound: Bound) -> tuple[str, list[Any], Compiled]:
        """A prepared statement: compiled on first use, then only its values are laid out."""
        cache = bound.prepared.cache
        entry: Compiled | None = cache.get(_PREPARED_KEY)
        if entry is None:
            sql: Any = bound.prepared.statement.compile(dialect=self._dialect)
            entry = cache[_PREPARED_KEY] = self._compile(sql)
            entry.layout = ArgumentLayout(sql, sql.positiontup or ())
        assert entry.layout is not None
        return entry.compiled.string, entry.layout.args(bound.values), entry

    def _expand_lists(
        self,
        entry: Compiled,
        # SQLAlchemy's own type for a statement's values (construct_params): any Python value
        # its bind processors or sqlite3 take.
        params: dict[str, Any],
    ) -> tuple[str, list[Any], Compiled]:
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

    def _compile(self, compiled: Any) -> Compiled:
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
        return Compiled(compiled, CompilationContext(context))
