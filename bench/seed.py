"""Orders written straight into the store, in the state the checkout route leaves them.

Used where creating the orders is not what is measured (idle waiters): 15,000 orders go in
in about a second, before the service starts, and the service's RSS then counts waiters,
not the work of creating orders. Order creation is measured on its own in `throughput`.
The rows match what `POST /api/orders` stores in sandbox mode (one Early Bird for
`demo-fest`): `processing`, version 2,
`CheckoutRequestID` = `ws_CO_SANDBOX_{order_number}`, `reference` = `SANDBOX-{order_number}`.
"""

from __future__ import annotations

import sqlite3

from bench.orders import Order
from server.clock import now_ms
from server.store.database import migrate, open_database
from server.transitions.changes import new_order_id, new_order_number

AMOUNT = 300


def new_orders(count: int) -> list[Order]:
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(new_order_number())
    return [Order(new_order_id(), number) for number in sorted(numbers)]


async def seed_orders(database_url: str, count: int) -> list[Order]:
    """Create the schema if needed and insert `count` processing orders."""
    database = open_database(database_url)
    await database.connect()
    try:
        await migrate(database)
    finally:
        await database.disconnect()
    orders = new_orders(count)
    stamp = now_ms()
    order_rows = [
        (
            o.order_id,
            o.order_number,
            AMOUNT,
            "KES",
            "processing",
            2,
            f"SANDBOX-{o.order_number}",
            o.checkout_request_id,
            stamp,
            stamp,
        )
        for o in orders
    ]
    change_rows = [
        row
        for o in orders
        for row in ((o.order_id, 1, None, "pending", stamp), (o.order_id, 2, "pending", "processing", stamp))
    ]
    # One Early Bird for the catalogue's event, as a checkout stores it: the status document
    # then names the event, and a held waiter's copy of it is as long as in production.
    order_sql = (
        "INSERT INTO orders (id, order_number, amount, currency, payment_status, version, payhero_reference,"
        " checkout_request_id, created_ms, updated_ms, quantity, event_slug, ticket_type)"
        " VALUES ({}, 1, 'demo-fest', 'early-bird')"
    )
    change_sql = (
        "INSERT INTO order_changes (order_id, version, from_status, to_status, source, created_ms)"
        " VALUES ({}, 'bench-seed', {})"
    )
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.executemany(order_sql.format(", ".join("?" * 10)), order_rows)
            conn.executemany(change_sql.format("?, ?, ?, ?", "?"), change_rows)
        return orders
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            await conn.executemany(order_sql.format(", ".join(f"${i}" for i in range(1, 11))), order_rows)
            await conn.executemany(change_sql.format("$1, $2, $3, $4", "$5"), change_rows)
    finally:
        await conn.close()
    return orders
