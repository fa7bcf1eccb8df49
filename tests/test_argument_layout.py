"""A prepared statement's values are laid out exactly as SQLAlchemy's `construct_params` would.

`ArgumentLayout` (server/store/prepared.py) replaces SQLAlchemy's per-call work with a plan
made once per compilation. Checked against SQLAlchemy itself for every prepared statement
in the service, on both dialects: the same values in the same order, the constants the
statement carries, and the same error for a value left out.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InvalidRequestError

import server
from server.lifecycle import COMPLETED, EXPIRED, PROCESSING
from server.store.prepared import ArgumentLayout, Prepared
from server.transitions.changes import transition


def every_prepared() -> dict[str, Prepared]:
    found: dict[str, Prepared] = {}
    root = Path(server.__file__).parent
    # By file, not pkgutil: some packages (transitions/) have no __init__.py.
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("server", *path.relative_to(root).with_suffix("").parts))
        if module.endswith(("__main__", "__init__")):
            continue
        for name, value in vars(importlib.import_module(module)).items():
            if isinstance(value, Prepared):
                found[f"{module}.{name}"] = value
    # The status changes' shapes are built on first use: the ones every payment runs.
    found["transition to completed"] = transition(COMPLETED, ("receipt_number", "result_code", "result_desc"))
    found["transition to processing"] = transition(PROCESSING, ("pushes", "prompt_expires_ms"))
    found["transition to expired"] = transition(EXPIRED, ("result_desc",))
    return found


PREPARED = every_prepared()
DIALECTS = {"sqlite": sqlite.dialect(), "postgres": postgresql.asyncpg.dialect()}  # type: ignore[no-untyped-call]


def compiled_and_names(prepared: Prepared, dialect: str) -> tuple[Any, tuple[str, ...]]:
    compiled: Any = prepared.statement.compile(dialect=DIALECTS[dialect])
    # As each backend numbers them: SQLite by position, PostgreSQL by sorted name.
    names = tuple(compiled.positiontup or ()) if dialect == "sqlite" else tuple(sorted(compiled.params))
    return compiled, names


def sqlalchemys_args(compiled: Any, values: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    params = compiled.construct_params(params=values, _check=True)
    processors = compiled._bind_processors
    return [processors[name](params[name]) if name in processors else params[name] for name in names]


def test_the_service_has_prepared_statements_to_check() -> None:
    assert len(PREPARED) >= 25


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", sorted(PREPARED))
def test_values_are_laid_out_as_sqlalchemy_lays_them_out(name: str, dialect: str) -> None:
    other = "postgres" if dialect == "sqlite" else "sqlite"
    if name.lower().endswith(other):
        pytest.skip(f"a statement of {other}'s only")
    compiled, names = compiled_and_names(PREPARED[name], dialect)
    keys = sorted({bind.key for bind in compiled.bind_names if bind.required})
    # Integers: every column type the statements bind takes one through its processor.
    values = {key: number for number, key in enumerate(keys, start=101)}
    assert ArgumentLayout(compiled, names).args(values) == sqlalchemys_args(compiled, values, names)
    if keys:
        missing = dict(values)
        del missing[keys[0]]
        with pytest.raises(InvalidRequestError, match=repr(keys[0])):
            sqlalchemys_args(compiled, missing, names)
        with pytest.raises(InvalidRequestError, match=repr(keys[0])):
            ArgumentLayout(compiled, names).args(missing)
