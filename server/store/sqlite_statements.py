"""Statements for the on-loop SQLite backend: SQL text and values, compiled once.

Compiled statements are cached by SQLAlchemy's own cache key, as SQLAlchemy's engine does;
the values of each execution are read from the new statement. This module, with
`postgres_backend.py` and `prepared.py`, is where the store leans on private names of
SQLAlchemy: they are listed in `server/store/internals.py` and checked
against the installed versions by tests/test_store_internals.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from server.store.prepared import ArgumentLayout, Bound

# Compiled statements kept; the service has a few dozen distinct shapes.
_CACHE_SIZE = 512
# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "sqlite-on-loop"


def sqlite_dialect() -> SQLiteDialect_pysqlite:
    """SQLAlchemy's SQLite dialect with `?` placeholders, as `databases` compiled with."""
    dialect = SQLiteDialect_pysqlite(paramstyle="qmark")
    dialect.supports_native_decimal = False
    return dialect


class Compiled:
    """A statement shape compiled once, and how each call's values are laid out on it."""

    __slots__ = (
        "compiled",
        "expanding",
        "expands",
        "layout",
        "processors",
        "texts",
    )

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
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

    def prepare(self, query: ClauseElement) -> tuple[str, Sequence[Any]]:
        """SQL text and positional values of `query`, its compilation cached."""
        if isinstance(query, DDLElement):
            return str(query.compile(dialect=self._dialect)), ()
        if isinstance(query, Bound):
            return self._prepare_bound(query)
        key = query._generate_cache_key()
        entry = None if key is None else self.cache.get(key.key)
        if entry is None:
            entry = Compiled(query.compile(dialect=self._dialect, cache_key=key))
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
            return compiled.string, args
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
        return state.statement, args

    def _prepare_bound(self, bound: Bound) -> tuple[str, list[Any]]:
        """A prepared statement: compiled on first use, then only its values are laid out."""
        cache = bound.prepared.cache
        entry: Compiled | None = cache.get(_PREPARED_KEY)
        if entry is None:
            sql: Any = bound.prepared.statement.compile(dialect=self._dialect)
            entry = cache[_PREPARED_KEY] = Compiled(sql)
            entry.layout = ArgumentLayout(sql, sql.positiontup or ())
        assert entry.layout is not None
        return entry.compiled.string, entry.layout.args(bound.values)

    def _expand_lists(
        self,
        entry: Compiled,
        # SQLAlchemy's own type for a statement's values (construct_params): any Python value
        # its bind processors or sqlite3 take.
        params: dict[str, Any],
    ) -> tuple[str, list[Any]]:
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
        return text, args
