"""The private (or undocumented) names of SQLAlchemy and `databases` the store relies on.

The on-loop SQLite backend (`sqlite_backend.py`, `sqlite_statements.py`), the PostgreSQL
backend and `prepared.py` compile statements once and read rows without SQLAlchemy's
engine, which means reaching into objects neither library promises to keep. They are
listed here, by the object that carries them, and tests/test_store_internals.py checks
every one against the installed versions: an upgrade that renames one fails there, by
name, instead of somewhere inside a query. Change this list with the code that uses it.
"""

from __future__ import annotations

# A compiled statement (`sqlalchemy.sql.compiler.SQLCompiler`).
COMPILED = (
    "_result_columns",
    "_ordered_columns",
    "_textual_ordered_columns",
    "_ad_hoc_textual",
    "_loose_column_name_matching",
    "_bind_processors",
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
# The SQLite dialect's execution context, filled in by hand, then read by the result metadata.
DIALECT = ("execution_ctx_cls",)
EXECUTION_CONTEXT = ("dialect", "result_column_struct")
RESULT_METADATA = ("_processors", "_key_to_index")

# `databases`: modules and the names taken from them.
DATABASES_MODULES = {
    "databases.backends.common.records": ("Record", "Row", "create_column_maps"),
    "databases.backends.sqlite": ("CompilationContext", "SQLiteBackend", "SQLiteConnection"),
    "databases.backends.postgres": ("PostgresBackend", "PostgresConnection", "PostgresTransaction"),
    "databases.interfaces": ("TransactionBackend",),
}
# Attributes of `databases`' SQLite backend (`_pool._database` is the file's path) and of
# its PostgreSQL connection (`_compile` is overridden for prepared statements).
SQLITE_BACKEND = ("_pool", "_dialect")
SQLITE_POOL = ("_database",)
POSTGRES_CONNECTION = ("_compile", "_dialect", "_connection")
# `databases.Database` and its `core.Connection`: whether the task already holds its
# connection, and the backend connection a held one runs statements on (held_connection.py).
DATABASE = ("_global_connection", "_connection_map", "_backend")
DATABASE_PROPERTIES = ("_connection",)  # the running task's connection, read on the class
CORE_CONNECTION = ("_connection_counter", "_connection", "_transaction_stack")
