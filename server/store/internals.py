"""The private (or undocumented) names of SQLAlchemy the store relies on.

The SQLite and PostgreSQL statements (`sqlite_statements.py`, `postgres_statements.py`)
and `prepared.py` compile statements once and lay out their values without SQLAlchemy's
engine, which means reaching into objects the library does not promise to keep. They are
listed here, by the object that carries them, and tests/test_store_internals.py checks
every one against the installed versions: an upgrade that renames one fails there, by
name, instead of somewhere inside a query. Change this list with the code that uses it.
"""

from __future__ import annotations

# A compiled statement (`sqlalchemy.sql.compiler.SQLCompiler`).
COMPILED = (
    "_bind_processors",
    "escaped_bind_names",
    "post_compile_params",
    "literal_execute_params",
    "bind_names",
    "positiontup",
    "construct_params",
    "construct_expanded_state",
)
# Keyword arguments of `SQLCompiler.construct_params`.
CONSTRUCT_PARAMS_KEYWORDS = ("params", "extracted_parameters", "escape_names", "_check")
# What `construct_expanded_state` returns (`sqlalchemy.sql.compiler.ExpandedState`).
EXPANDED_STATE = ("statement", "processors", "parameters", "positiontup")
# A statement's cache key (`ClauseElement._generate_cache_key()`), and a bound parameter's flags.
CLAUSE = ("_generate_cache_key",)
CACHE_KEY = ("key", "bindparams")
BIND_PARAMETER = ("expanding", "literal_execute")
# The PostgreSQL dialect's settings, set as `databases` set them so every SQL text is as it was.
POSTGRES_DIALECT = (
    "supports_native_enum",
    "supports_smallserial",
    "_backslash_escapes",
    "supports_sane_multi_rowcount",
    "supports_native_decimal",
)
