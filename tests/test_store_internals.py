"""Every private name of SQLAlchemy and `databases` the store relies on still exists
(server/store/internals.py): an upgrade that renames one fails here, by name."""

from __future__ import annotations

import importlib
import inspect
import sqlite3
from typing import Any

import sqlalchemy as sa
from databases import Database
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.backends.sqlite import CompilationContext, SQLiteBackend
from databases.core import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine.cursor import CursorResultMetaData

from server.store import internals
from server.store.tables import orders


def missing(thing: Any, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not hasattr(thing, name)]


def test_sqlalchemy_internals_are_where_the_store_reads_them() -> None:
    dialect = sqlite.dialect()  # type: ignore[no-untyped-call]
    statement = sa.select(orders.c.id).where(orders.c.id.in_(["a", "b"]), orders.c.version > 1)
    compiled: Any = statement.compile(dialect=dialect)
    assert missing(compiled, internals.COMPILED) == []
    keywords = set(inspect.signature(compiled.construct_params).parameters)
    assert set(internals.CONSTRUCT_PARAMS_KEYWORDS) <= keywords
    params = compiled.construct_params(escape_names=False)
    assert missing(compiled.construct_expanded_state(params), internals.EXPANDED_STATE) == []
    assert missing(statement, internals.CLAUSE) == []
    key = statement._generate_cache_key()
    assert key is not None and missing(key, internals.CACHE_KEY) == []
    assert all(missing(bind, internals.BIND_PARAMETER) == [] for bind in compiled.post_compile_params)
    assert missing(dialect, internals.DIALECT) == []
    context = dialect.execution_ctx_cls()
    context.dialect = dialect
    context.result_column_struct = (compiled._result_columns, True, False, False, False)
    assert missing(context, internals.EXECUTION_CONTEXT) == []
    cursor = sqlite3.connect(":memory:").execute("SELECT 'x' AS id")
    # `databases`' CompilationContext stands in for the CursorResult SQLAlchemy expects.
    metadata = CursorResultMetaData(CompilationContext(context), cursor.description)  # type: ignore[arg-type]
    assert missing(metadata, internals.RESULT_METADATA) == []


def test_databases_internals_are_where_the_store_reads_them() -> None:
    for module, names in internals.DATABASES_MODULES.items():
        assert missing(importlib.import_module(module), names) == [], module
    backend = SQLiteBackend("sqlite:///unused.sqlite3")
    assert missing(backend, internals.SQLITE_BACKEND) == []
    assert missing(backend._pool, internals.SQLITE_POOL) == []
    postgres = PostgresBackend("postgresql://unused/x")
    connection = PostgresConnection(postgres, postgres._dialect)
    assert missing(connection, internals.POSTGRES_CONNECTION) == []
    database = Database("sqlite:///unused.sqlite3")
    assert missing(database, internals.DATABASE) == []
    assert missing(Database, internals.DATABASE_PROPERTIES) == []
    assert missing(Connection(database, database._backend), internals.CORE_CONNECTION) == []
