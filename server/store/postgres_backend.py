"""PostgreSQL for `databases`, with `Prepared` statements compiled once.

`databases`' asyncpg backend compiles every statement on every call. For a `Bound`
prepared statement this one reuses the compilation and only lays out the values; any
other statement goes the stock way.
"""

from __future__ import annotations

from typing import Any

from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy.sql import ClauseElement

from server.store.prepared import Bound, positional_args

# Where a `Prepared` statement keeps its compilation for this backend.
_PREPARED_KEY = "postgres-asyncpg"


class PreparedPostgresConnection(PostgresConnection):
    def _compile(self, query: ClauseElement) -> tuple[str, list[Any], Any]:
        if not isinstance(query, Bound):
            return super()._compile(query)
        cache = query.prepared.cache
        entry = cache.get(_PREPARED_KEY)
        if entry is None:
            compiled = query.prepared.statement.compile(dialect=self._dialect)
            # Numbered as `databases` numbers them: the parameter names, sorted.
            names = tuple(sorted(compiled.params))
            text = compiled.string % {name: f"${number}" for number, name in enumerate(names, start=1)}
            entry = cache[_PREPARED_KEY] = (compiled, names, text)
        compiled, names, text = entry
        return text, positional_args(compiled, query.values, names), compiled._result_columns


class PreparedPostgresBackend(PostgresBackend):
    def connection(self) -> PreparedPostgresConnection:
        return PreparedPostgresConnection(self, self._dialect)
