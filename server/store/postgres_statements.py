"""Statements for PostgreSQL: SQL text with `$n` placeholders, and this call's values.

A `Prepared` statement (prepared.py) is compiled once per process and only its values laid
out on each call. Any other statement is compiled on each call, as `databases` did (the
service's hot paths are all prepared): IN lists rendered, the values numbered in the order
of their names, sorted.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from server.store.prepared import ArgumentLayout, Bound

# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "postgres-asyncpg"


def postgres_dialect() -> Any:
    """SQLAlchemy's PostgreSQL dialect with `%(name)s` placeholders, numbered here: the
    settings `databases` compiled with, so every statement's SQL is as it was."""
    dialect: Any = PGDialect(paramstyle="pyformat")  # type: ignore[no-untyped-call]
    dialect.supports_native_enum = True
    dialect.supports_smallserial = True
    dialect._backslash_escapes = False
    dialect.supports_sane_multi_rowcount = True
    dialect.supports_native_decimal = True
    return dialect


class PostgresStatements:
    def __init__(self) -> None:
        self.dialect = postgres_dialect()

    def compile(self, query: ClauseElement) -> tuple[str, list[Any]]:
        if isinstance(query, Bound):
            return self._prepared(query)
        compiled: Any = query.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        if isinstance(query, DDLElement):
            return compiled.string, []
        params = sorted(compiled.params.items())
        text = compiled.string % {name: f"${number}" for number, (name, _) in enumerate(params, start=1)}
        processors = compiled._bind_processors
        return text, [processors[name](value) if name in processors else value for name, value in params]

    def _prepared(self, query: Bound) -> tuple[str, list[Any]]:
        cache = query.prepared.cache
        entry = cache.get(_PREPARED_KEY)
        if entry is None:
            compiled: Any = query.prepared.statement.compile(dialect=self.dialect)
            # Numbered as any other statement: the parameter names, sorted.
            names = tuple(sorted(compiled.params))
            text = compiled.string % {name: f"${number}" for number, name in enumerate(names, start=1)}
            entry = cache[_PREPARED_KEY] = (text, ArgumentLayout(compiled, names))
        text, layout = entry
        return text, layout.args(query.values)


# The statements PostgreSQL lets a WITH of data-modifying statements lead.
CARRIERS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
# A `$n` placeholder. The service's SQL has no `$` in a literal or a name, so every match is one.
_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=256)
def _carrying_sql(writes: tuple[tuple[str, int], ...], carrier: str) -> str:
    """`carrier` led by `writes` (each its SQL and its number of values) as data-modifying
    CTEs, placeholders renumbered in the order the values are laid out: writes first."""
    parts = []
    offset = 0
    for number, (sql, count) in enumerate(writes, start=1):
        parts.append(f"_write_{number} AS ({_renumbered(sql, offset)})")
        offset += count
    carrier = _renumbered(carrier, offset)
    ctes = ", ".join(parts)
    for lead in ("WITH RECURSIVE ", "WITH "):
        if carrier.startswith(lead):
            # The carrier's own CTEs follow the writes in one WITH list.
            return f"{lead}{ctes}, {carrier[len(lead) :]}"
    return f"WITH {ctes} {carrier}"


def _renumbered(sql: str, offset: int) -> str:
    if not offset:
        return sql
    return _PLACEHOLDER.sub(lambda found: f"${int(found.group(1)) + offset}", sql)


def carried(writes: list[tuple[str, list[Any]]], sql: str, args: list[Any]) -> tuple[str, list[Any]]:
    """One statement that runs `writes` (deferred, their results unread) and then `sql`."""
    text = _carrying_sql(tuple((write, len(values)) for write, values in writes), sql)
    laid_out: list[Any] = []
    for _, values in writes:
        laid_out += values
    return text, laid_out + args


@functools.lru_cache(maxsize=64)
def _arrays(first: int, count: int) -> str:
    return ", ".join(f"ARRAY(SELECT * FROM _write_{number})" for number in range(first, first + count))


def gathered(
    writes: list[tuple[str, list[Any]]], fetches: list[tuple[str, list[Any]]]
) -> tuple[str, list[Any]]:
    """One statement that runs `writes` and `fetches` (each returning one column) as
    data-modifying CTEs; its one row holds an array per fetch, of that column's values."""
    return carried(writes + fetches, f"SELECT {_arrays(len(writes) + 1, len(fetches))}", [])
