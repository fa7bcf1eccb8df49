"""Opening the database and bringing its schema up to date, idempotently, at start."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from server.private_files import private_sqlite_file
from server.store.postgres_backend import PostgresBackend
from server.store.sessions import Database
from server.store.sqlite_backend import SQLiteBackend
from server.store.tables import metadata

log = logging.getLogger("server.store")


SCHEMA_VERSION_TABLE = "schema_version"
# Postgres advisory lock id, so several processes starting at once migrate one at a time.
MIGRATION_LOCK_ID = 727_001


def is_postgres(database: Database) -> bool:
    """Whether `database` is PostgreSQL (else SQLite)."""
    return database.dialect_name == "postgresql"


def dialect_of(database: Database) -> sa.engine.Dialect:
    return _dialect(is_postgres(database))


def _dialect(postgres: bool) -> sa.engine.Dialect:
    return postgresql.asyncpg.dialect() if postgres else sqlite.dialect()  # type: ignore[no-untyped-call]


def open_database(
    url: str,
    *,
    busy_timeout: float = 15.0,
    pool_size: int = 20,
    statement_timeout: float | None = None,
    acquire_timeout: float | None = None,
) -> Database:
    """The store at `url` (not yet connected); SQLite gets a busy timeout on every connection.

    With the busy timeout a SQLite writer waits for the lock instead of failing at once
    with "database is locked"; past it the request gets a JSON 503. On PostgreSQL,
    `statement_timeout` bounds each statement (on the server, and on the client a second
    later, for a server or network that answers nothing at all) and `acquire_timeout` the
    wait for a pool connection, a new connection's opening included: a hung PostgreSQL is a
    503 within seconds instead of a request held for a minute (issue 24).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            # Names, phones, callback bodies, ticket codes: readable by the service's user only.
            private_sqlite_file(Path(path))
        # How long a write waits for another process's lock, retried without blocking the loop.
        return Database(url, SQLiteBackend(path, busy_timeout=busy_timeout))
    # The URL's TLS options become asyncpg's `ssl` (server/store/postgres_url.py).
    backend = PostgresBackend(
        url,
        min_size=min(2, pool_size),
        max_size=pool_size,
        statement_timeout=statement_timeout,
        acquire_timeout=acquire_timeout,
    )
    return Database(url, backend)


# Indexes on columns a later migration adds: an older database upgraded through migrations
# 1-4 has no such column yet, so those create them only in migration 5.
INDEXES_OF_5 = frozenset({"ix_tickets_short_code"})


def _create_statements(database: Database, *, later: frozenset[str] = frozenset()) -> list[str]:
    return list(_compiled_ddl(is_postgres(database), later))


# Compiled once per store kind: a new database runs this for several migrations, and each
# compile of every table cost ~4.5 ms, a third of a fresh SQLite service's migrate.
@functools.cache
def _compiled_ddl(postgres: bool, later: frozenset[str]) -> tuple[str, ...]:
    dialect = _dialect(postgres)
    statements: list[str] = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
            if index.name in later:
                continue
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    return tuple(statements)


# Columns added to existing tables by migration 4: (table, column). A database made after
# them already has them (migration 1 creates tables from `metadata`), so only missing ones
# are added.
ADDED_IN_4 = (
    ("orders", "first_name"),
    ("orders", "last_name"),
    ("orders", "phone"),
    ("orders", "pushes"),
    ("orders", "prompt_expires_ms"),
    ("payhero_callbacks", "replay_of"),
)


async def _existing_columns(database: Database, table: str) -> set[str]:
    if is_postgres(database):
        rows = await database.fetch_all(
            sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t").bindparams(
                t=table
            )
        )
        return {row["column_name"] for row in rows}
    rows = await database.fetch_all(f"PRAGMA table_info({table})")
    return {row["name"] for row in rows}


async def _added_columns(database: Database, added: Sequence[tuple[str, str]]) -> list[str]:
    dialect = dialect_of(database)
    statements = []
    for table_name, column_name in added:
        if column_name in await _existing_columns(database, table_name):
            continue
        column = metadata.tables[table_name].c[column_name]
        kind = column.type.compile(dialect=dialect)
        default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""  # type: ignore[attr-defined]
        null = "" if column.nullable else " NOT NULL"
        statements.append(f"ALTER TABLE {table_name} ADD COLUMN {column_name} {kind}{default}{null}")
    return statements


async def _pushes_and_order_contacts(database: Database) -> list[str]:
    """4: `payment_pushes`, the order's own name and phone, push counts, replays beside originals."""
    return _create_statements(database, later=INDEXES_OF_5) + await _added_columns(database, ADDED_IN_4)


# Columns added by migration 5, for the gate: the short code and the door of a check-in.
ADDED_IN_5 = (("tickets", "short_code"), ("tickets", "checked_in_gate"))


async def _gate_codes_and_doors(database: Database) -> list[str]:
    """5: the columns first, then the statements that create `ix_tickets_short_code` on them."""
    return await _added_columns(database, ADDED_IN_5) + _create_statements(database)


# Added by migration 7: the language an order was placed in, for its e-mails.
ADDED_IN_7 = (("orders", "language"),)


async def _order_language(database: Database) -> list[str]:
    """7: `orders.language`."""
    return await _added_columns(database, ADDED_IN_7)


def _receipts(database: Database) -> list[str]:
    """8: `payment_receipts`, filled from the orders already completed. Where one receipt
    completed several orders (possible before this migration), one of them keeps it; the
    others stay as they are, for a person to look at (docs/OPERATIONS.md, `receipt_reused`)."""
    return [
        *_create_statements(database),
        "INSERT INTO payment_receipts (receipt_number, order_id, created_ms) "
        "SELECT receipt_number, MIN(id), MIN(updated_ms) FROM orders "
        "WHERE payment_status = 'completed' AND receipt_number IS NOT NULL "
        "AND receipt_number NOT IN (SELECT receipt_number FROM payment_receipts) "
        "GROUP BY receipt_number",
    ]


async def _order_client_key(database: Database) -> list[str]:
    """9: `orders.client_key`, for the unpaid seats one client address may hold."""
    if "client_key" in await _existing_columns(database, "orders"):
        return []
    kind = metadata.tables["orders"].c.client_key.type.compile(dialect=dialect_of(database))
    return [f"ALTER TABLE orders ADD COLUMN client_key {kind}"]


# Each migration is a list of SQL statements for a database; it runs once, in order.
# Migration 1 creates every table of `metadata` that is missing. Later ones alter, or run
# it again to add tables (IF NOT EXISTS makes that a no-op for a database made after them).
# A migration that must look at the database first is a coroutine function.
Migration = Callable[[Database], Sequence[str] | Awaitable[Sequence[str]]]
_BEFORE_5 = functools.partial(_create_statements, later=INDEXES_OF_5)
MIGRATIONS: list[Migration] = [
    _BEFORE_5,
    # 2: the `outbox` table (fulfilment e-mails) for databases made before it existed.
    _BEFORE_5,
    # 3: `ix_orders_customer_status`, for the welcome e-mail's "first paid order?" check.
    _BEFORE_5,
    _pushes_and_order_contacts,
    _gate_codes_and_doors,
    # 6: `desk_actions`, what the organiser's desk did about an order.
    _create_statements,
    # 7: `orders.language`, the language the order's e-mails are written in.
    _order_language,
    # 8: `payment_receipts`, one receipt for one order.
    _receipts,
    # 9: `orders.client_key`, the address whose unpaid seats are capped.
    _order_client_key,
    # 10: `gate_double_admissions`, found when an offline gate's queue is sent.
    _create_statements,
]


class SchemaTooNew(Exception):
    """The database was migrated by a newer release than this code (a rollback): starting
    would write rows that release does not expect."""

    def __init__(self, found: int) -> None:
        self.found, self.known = found, len(MIGRATIONS)
        super().__init__(
            f"the database's schema is version {found}, newer than this code's {self.known}: "
            "deploy the release that migrated it (or newer), or restore a backup made before it"
        )


async def schema_version(database: Database) -> int:
    """The schema version the database is at (0: never migrated)."""
    try:
        found = await database.fetch_val(f"SELECT MAX(version) FROM {SCHEMA_VERSION_TABLE}")
    except Exception as exc:
        # No table yet: a new database. Anything else is the store's to report.
        if "schema_version" not in str(exc) and "no such table" not in str(exc):
            raise
        return 0
    return int(found or 0)


async def migrate(database: Database) -> int:
    """Create or upgrade the schema; safe to run from several processes at once. Refuses
    (SchemaTooNew) a schema newer than this code's."""
    if not is_postgres(database):
        # WAL lets readers go on while one writer commits; it is a property of the file.
        await database.execute("PRAGMA journal_mode=WAL")
    async with database.transaction():
        if is_postgres(database):
            await database.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        await database.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} (version INTEGER NOT NULL)"
        )
        current = await database.fetch_val(f"SELECT MAX(version) FROM {SCHEMA_VERSION_TABLE}")
        current = int(current or 0)
        if current > len(MIGRATIONS):
            raise SchemaTooNew(current)
        for number, migration in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            statements = migration(database)
            if inspect.isawaitable(statements):
                statements = await statements
            for statement in statements:
                await database.execute(statement)
            await database.execute(f"INSERT INTO {SCHEMA_VERSION_TABLE} (version) VALUES ({number})")
            log.info("schema migration %d applied", number)
    return len(MIGRATIONS)
