"""The database: tables, migrations, prepared statements, the typed rows its queries hand
out, the SQLite and PostgreSQL backends, and their errors translated into the store's own."""

from __future__ import annotations

from server.store.database import (
    MIGRATIONS,
    SchemaTooNew,
    is_postgres,
    migrate,
    open_database,
    schema_version,
)
from server.store.failures import StoreConflict, StoreUnavailable, log_failed_pass
from server.store.ids import random_id
from server.store.postgres_url import postgres_target
from server.store.prepared import Prepared, SQLValue, parameters
from server.store.results import LaterColumn, ResultRow
from server.store.rows import CallbackRow, OrderRow, OutboxRow, PayerRow, PushRow, SignedTicketRow, TicketRow
from server.store.sessions import Database, Query, StatementValues
from server.store.tables import (
    customers,
    desk_actions,
    gate_double_admissions,
    order_changes,
    orders,
    outbox,
    payhero_callbacks,
    payment_pushes,
    payment_receipts,
    ticket_inventory,
    tickets,
)

__all__ = [
    "MIGRATIONS",
    "CallbackRow",
    "Database",
    "LaterColumn",
    "OrderRow",
    "OutboxRow",
    "PayerRow",
    "Prepared",
    "PushRow",
    "Query",
    "ResultRow",
    "SQLValue",
    "SchemaTooNew",
    "SignedTicketRow",
    "StatementValues",
    "StoreConflict",
    "StoreUnavailable",
    "TicketRow",
    "customers",
    "desk_actions",
    "gate_double_admissions",
    "is_postgres",
    "log_failed_pass",
    "migrate",
    "open_database",
    "order_changes",
    "orders",
    "outbox",
    "parameters",
    "payhero_callbacks",
    "payment_pushes",
    "payment_receipts",
    "postgres_target",
    "random_id",
    "schema_version",
    "ticket_inventory",
    "tickets",
]
