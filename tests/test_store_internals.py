"""Every private name of SQLAlchemy the store relies on still exists
(server/store/internals.py): an upgrade that renames one fails here, by name."""

from __future__ import annotations

import inspect
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from server.store import internals
from server.store.postgres_statements import postgres_dialect
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


def test_the_postgres_dialect_settings_are_ones_sqlalchemy_reads() -> None:
    # Setting a name SQLAlchemy no longer has would pass silently: it must exist on the class.
    dialect = postgres_dialect()
    assert missing(type(dialect), internals.POSTGRES_DIALECT) == []
