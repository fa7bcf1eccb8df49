"""After the flash sale: what the store says, read straight from the database (the truth).

Seats sold must equal seats paid (nothing oversold, every released seat given back), every
paid order must have its tickets and its tickets e-mail sent, nothing may be left pending,
and the outbox must be empty. Read with the drivers directly (sqlite3, asyncpg), not
through the service, so a bug in the service cannot hide itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from bench.sale_buyers import EVENT, TICKET_TYPE

SALE_ROW = f"FROM ticket_inventory WHERE event_slug = '{EVENT}' AND ticket_type = '{TICKET_TYPE}'"
OPEN_ORDERS = "FROM orders WHERE payment_status IN ('pending', 'processing')"
QUERIES = {
    "capacity": f"SELECT capacity {SALE_ROW}",
    "sold": f"SELECT sold {SALE_ROW}",
    "paid_seats": "SELECT coalesce(sum(quantity), 0) FROM orders WHERE payment_status = 'completed'",
    "paid_orders": "SELECT count(*) FROM orders WHERE payment_status = 'completed'",
    "open_orders": f"SELECT count(*) {OPEN_ORDERS}",
    "open_seats": f"SELECT coalesce(sum(quantity), 0) {OPEN_ORDERS}",
    "needs_review": "SELECT count(*) FROM orders WHERE needs_review IS NOT NULL",
    "paid_tickets": "SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id"
    " WHERE o.payment_status = 'completed'",
    "paid_without_ticket_email": "SELECT count(*) FROM orders o WHERE o.payment_status = 'completed'"
    " AND NOT EXISTS (SELECT 1 FROM outbox m WHERE m.order_id = o.id AND m.kind = 'tickets'"
    " AND m.sent_ms IS NOT NULL)",
    "unsent_emails": "SELECT count(*) FROM outbox WHERE sent_ms IS NULL",
    "sent_emails": "SELECT count(*) FROM outbox WHERE sent_ms IS NOT NULL",
    "last_sent_ms": "SELECT max(sent_ms) FROM outbox",
    "last_paid_ms": "SELECT max(updated_ms) FROM orders WHERE payment_status = 'completed'",
    "callbacks_stored": "SELECT count(*) FROM payhero_callbacks",
    "callbacks_unprocessed": "SELECT count(*) FROM payhero_callbacks WHERE processed_ms IS NULL",
}


@dataclass
class Audit:
    capacity: int
    sold: int
    paid_seats: int
    paid_orders: int
    open_orders: int
    open_seats: int
    needs_review: int
    paid_tickets: int
    paid_without_ticket_email: int
    unsent_emails: int
    sent_emails: int
    last_sent_ms: int | None
    last_paid_ms: int | None
    callbacks_stored: int
    callbacks_unprocessed: int

    @property
    def oversold(self) -> int:
        return max(0, self.sold - self.capacity) + max(0, self.paid_seats - self.capacity)

    @property
    def problems(self) -> list[str]:
        """Each way the store is wrong after the sale, in words."""
        found = []
        if self.oversold:
            found.append(f"oversold: {self.sold} sold, {self.paid_seats} paid, capacity {self.capacity}")
        # Seats an order still open holds are sold and not yet paid: named with the open
        # orders below, not as seats lost.
        if self.sold != self.paid_seats + self.open_seats:
            found.append(
                f"seats sold {self.sold} != seats paid {self.paid_seats} + held by open orders"
                f" {self.open_seats} (seats lost or leaked)"
            )
        if self.paid_tickets != self.paid_seats:
            found.append(f"{self.paid_tickets} tickets for {self.paid_seats} paid seats")
        for name in ("open_orders", "needs_review", "paid_without_ticket_email", "unsent_emails"):
            if getattr(self, name):
                found.append(f"{name}: {getattr(self, name)}")
        if self.callbacks_unprocessed:
            found.append(f"callbacks stored but not applied: {self.callbacks_unprocessed}")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "oversold": self.oversold, "problems": self.problems}


async def _values(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return {name: conn.execute(sql).fetchone()[0] for name, sql in QUERIES.items()}
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return {name: await connection.fetchval(sql) for name, sql in QUERIES.items()}
    finally:
        await connection.close()


async def audit(database_url: str) -> Audit:
    values = await _values(database_url)
    found: dict[str, Any] = {k: (int(v) if v is not None else None) for k, v in values.items()}
    return Audit(**found)


async def until_drained(database_url: str, timeout: float) -> tuple[Audit, float]:
    """The audit once no e-mail is left to send (or `timeout` passed), and the seconds waited."""
    started = time.perf_counter()
    while True:
        found = await audit(database_url)
        if not found.unsent_emails or time.perf_counter() - started > timeout:
            return found, time.perf_counter() - started
        await asyncio.sleep(0.25)
