"""The database: tables, migrations, prepared statements, the SQLite and PostgreSQL
backends, and their errors translated into the store's own."""

from __future__ import annotations

from server.store.database import is_postgres, migrate, open_database
from server.store.failures import StoreConflict, StoreUnavailable
from server.store.prepared import Prepared, parameters
from server.store.tables import (
    customers,
    order_changes,
    orders,
    outbox,
    payhero_callbacks,
    payment_pushes,
    ticket_inventory,
    tickets,
)

__all__ = [
    "Prepared",
    "StoreConflict",
    "StoreUnavailable",
    "customers",
    "is_postgres",
    "migrate",
    "open_database",
    "order_changes",
    "orders",
    "outbox",
    "parameters",
    "payhero_callbacks",
    "payment_pushes",
    "ticket_inventory",
    "tickets",
]
