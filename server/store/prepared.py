"""Statements built and compiled once, run many times with new values.

Profiles of a payment callback (docs/BENCHMARKS.md) found half of its CPU time in
SQLAlchemy building each statement from scratch and computing its cache key (~120 µs a
statement, fifteen statements a callback), against ~30 µs for SQLite to run it. A
`Prepared` statement is built once at import with `bindparam`s for what changes; each use
is `PREPARED.bind(name=value, ...)`, which `Database.fetch_one` and friends accept like any
statement. The store's backends (`sqlite_backend`, `postgres_backend`) compile it once per
dialect and lay the values out from the cached compilation.

Expanding parameters (`IN` lists given per call) are refused: the SQL text would depend on
each call's values. A statement with a fixed `IN` list bakes the list in at build time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.sql import ClauseElement, bindparam
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import Executable


class Prepared:
    """One statement shape; `cache` holds its compilation per backend (a backend's own key)."""

    __slots__ = ("cache", "is_select", "statement")

    def __init__(self, statement: Executable) -> None:
        compiled = statement.compile()  # type: ignore[attr-defined]
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("a prepared statement cannot expand IN lists per call")
        self.statement: ClauseElement = statement  # type: ignore[assignment]
        self.is_select = bool(getattr(statement, "is_select", False))
        self.cache: dict[Any, Any] = {}

    def bind(self, **values: Any) -> Bound:
        return Bound(self, values)

    def __repr__(self) -> str:
        return f"Prepared({str(self.statement)!r})"


class Bound(ClauseElement):
    """A prepared statement with this call's values: what the backends are given.

    A `ClauseElement` only so it passes `databases`' API unchanged; it is never compiled
    by SQLAlchemy itself, only looked up by the store's backends.
    """

    __slots__ = ("prepared", "values")

    def __init__(self, prepared: Prepared, values: Mapping[str, Any]) -> None:
        self.prepared = prepared
        self.values = values

    @property
    def is_select(self) -> bool:
        return self.prepared.is_select

    def __repr__(self) -> str:
        return f"Bound({self.prepared!r}, {sorted(self.values)})"


def parameters(*names: str) -> dict[str, BindParameter[Any]]:
    """`{name: bindparam(name)}`: the `.values(...)` of a prepared INSERT or UPDATE."""
    return {name: bindparam(name) for name in names}


def positional_args(compiled: Any, values: Mapping[str, Any], names: tuple[str, ...]) -> list[Any]:
    """The values of one execution, in `names` order, through the dialect's bind processors.

    Defaults (constants written into the statement, such as the 1 of `version + 1`) come
    from the compilation; a bindparam left without a value raises, as SQLAlchemy does.
    """
    params = compiled.construct_params(params=values, _check=True)
    processors = compiled._bind_processors
    return [processors[name](params[name]) if name in processors else params[name] for name in names]
