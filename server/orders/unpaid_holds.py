"""How many unpaid seats one phone, one client address and one e-mail may hold at once.

A checkout takes its seats at once and keeps them while the prompt is answered, so a bot
placing orders to phones that never answer could hold every seat of a sale, over and over
at each expiry (issue 24). The seats of a client's unpaid orders (`pending`, `processing`)
are counted inside the checkout's own transaction, after its seats are reserved: on SQLite
that transaction already holds the write lock, and on PostgreSQL a transaction-scoped
advisory lock per key makes two checkouts of one phone (address, e-mail) count one after
the other. A seat comes back as soon as its order fails, is cancelled or expires, so the
holds follow PayHero's failures at once. `0` turns a cap off.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from server.lifecycle import PENDING, PROCESSING
from server.store import Database
from server.store.database import is_postgres
from server.store.prepared import Prepared
from server.store.tables import customers, orders

_UNPAID = sa.or_(orders.c.payment_status == PENDING, orders.c.payment_status == PROCESSING)
# Each uses ix_orders_status_updated: unpaid orders are the few of the last minutes.
SEATS_BY_PHONE = Prepared(
    sa.select(sa.func.coalesce(sa.func.sum(orders.c.quantity), 0)).where(
        _UNPAID, orders.c.phone == sa.bindparam("key")
    )
)
SEATS_BY_CLIENT = Prepared(
    sa.select(sa.func.coalesce(sa.func.sum(orders.c.quantity), 0)).where(
        _UNPAID, orders.c.client_key == sa.bindparam("key")
    )
)
SEATS_BY_EMAIL = Prepared(
    sa.select(sa.func.coalesce(sa.func.sum(orders.c.quantity), 0))
    .select_from(orders.join(customers, customers.c.id == orders.c.customer_id))
    .where(_UNPAID, customers.c.email == sa.bindparam("key"))
)
LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("lock_id", type_=sa.BigInteger))))


class TooManyUnpaidSeats(Exception):
    """This checkout would take one holder past its cap: `limit` is phone, client or email."""

    def __init__(self, limit: str, cap: int) -> None:
        super().__init__(f"unpaid seats per {limit} capped at {cap}")
        self.limit = limit
        self.cap = cap


@dataclass(frozen=True)
class UnpaidCaps:
    per_phone: int = 0
    per_client: int = 0
    per_email: int = 0


def _lock_id(kind: str, key: str) -> int:
    digest = hashlib.sha256(f"unpaid:{kind}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def check_unpaid(
    database: Database, caps: UnpaidCaps, *, phone: str, client: str | None, email: str
) -> None:
    """Call inside the checkout's transaction, after its order row is written: raises
    TooManyUnpaidSeats (rolling the checkout back) when a holder is now past its cap."""
    checks = [
        ("phone", caps.per_phone, phone, SEATS_BY_PHONE),
        ("client", caps.per_client, client, SEATS_BY_CLIENT),
        ("email", caps.per_email, email, SEATS_BY_EMAIL),
    ]
    active = [(kind, cap, key, query) for kind, cap, key, query in checks if cap > 0 and key]
    if is_postgres(database):
        # Sorted: two checkouts taking the same locks take them in one order, never crosswise.
        for lock_id in sorted(_lock_id(kind, str(key)) for kind, _, key, _ in active):
            await database.fetch_val(LOCK.bind(lock_id=lock_id))
    for kind, cap, key, query in active:
        held = int(await database.fetch_val(query.bind(key=key)) or 0)
        if held > cap:
            raise TooManyUnpaidSeats(kind, cap)
