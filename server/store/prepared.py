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
from typing import Any, TypeAlias

from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql import ClauseElement, bindparam
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import Executable

# What a statement's parameter is bound to: a column's value, as the drivers take it.
SQLValue: TypeAlias = str | int | float | bool | bytes | None


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

    def bind(self, **values: SQLValue) -> Bound:
        return Bound(self, values)

    def __repr__(self) -> str:
        return f"Prepared({str(self.statement)!r})"


class Bound(ClauseElement):
    """A prepared statement with this call's values: what the backends are given.

    A `ClauseElement` only so it passes `databases`' API unchanged; it is never compiled
    by SQLAlchemy itself, only looked up by the store's backends.
    """

    __slots__ = ("prepared", "values")

    def __init__(self, prepared: Prepared, values: Mapping[str, SQLValue]) -> None:
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


# A slot's value comes from the call, not from a constant in the statement.
_GIVEN = object()


class ArgumentLayout:
    """Where each value of an execution comes from, worked out once per compilation.

    What `compiled.construct_params` works out again on every call (it walks every bind
    parameter, checks escaping, and builds a dict that is then read in order): 3-5% of a
    callback's CPU (docs/BENCHMARKS.md, "Half the CPU per callback"). Same results: a value
    given by the parameter's key or its compiled name, else its default (constants written
    into the statement, such as the 1 of `version + 1`); a required one missing raises as
    SQLAlchemy does; each through the dialect's bind processor.
    """

    __slots__ = ("_plan", "_processed", "slots")

    def __init__(self, compiled: Any, names: tuple[str, ...]) -> None:
        escaped = compiled.escaped_bind_names
        by_name = {escaped.get(name, name): (bind, name) for bind, name in compiled.bind_names.items()}
        processors = compiled._bind_processors
        self.slots = tuple((*by_name[name], processors.get(name)) for name in names)
        # Each value's key, its compiled name, and its constant (`_GIVEN`: the call gives it),
        # for `args` to lay out in one pass; None where a default is computed per call.
        plan = tuple((b.key, name, _GIVEN if b.required else b.value) for b, name, _ in self.slots)
        self._plan = None if any(bind.callable for bind, _, _ in self.slots) else plan
        self._processed = tuple(
            (position, process) for position, (_, _, process) in enumerate(self.slots) if process is not None
        )

    def args(self, values: Mapping[str, SQLValue]) -> list[Any]:
        plan = self._plan
        if plan is None:
            return self._args_by_rule(values)
        try:
            laid_out: list[Any] = [
                values[key] if constant is _GIVEN else values.get(key, values.get(name, constant))
                for key, name, constant in plan
            ]
        except KeyError:
            # A value given by its compiled name, or missing (which raises as SQLAlchemy does).
            return self._args_by_rule(values)
        for position, process in self._processed:
            laid_out[position] = process(laid_out[position])
        return laid_out

    def _args_by_rule(self, values: Mapping[str, SQLValue]) -> list[Any]:
        laid_out = []
        for bind, name, process in self.slots:
            if bind.key in values:
                value = values[bind.key]
            elif name in values:
                value = values[name]
            elif bind.required:
                raise InvalidRequestError(f"A value is required for bind parameter {bind.key!r}", code="cd3x")
            else:
                value = bind.effective_value if bind.callable else bind.value
            laid_out.append(value if process is None else process(value))
        return laid_out
