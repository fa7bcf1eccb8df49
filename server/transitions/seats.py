"""Seats: reserved when an order is placed, given back when it fails, never oversold.

Reserving is one conditional UPDATE (`sold + n <= capacity`), so concurrent checkouts on
SQLite or PostgreSQL cannot both take the last seat. A payment that lands after its order
gave its seats back takes them again even past capacity (the customer has paid), and the
order is flagged for review instead.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from server.lifecycle import COMPLETED, RELEASING
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import OrderRow
from server.store.tables import orders, ticket_inventory
from server.transitions.change import ChangeInProgress

log = logging.getLogger("server.orders")


def _row(event_slug: str, ticket_type: str) -> Any:
    return (ticket_inventory.c.event_slug == event_slug) & (ticket_inventory.c.ticket_type == ticket_type)


# Built once: every checkout runs it (a statement built per call was SQLAlchemy's coercions
# and cache key, a fifth of a checkout's Python calls with the three below it).
_QUANTITY = sa.bindparam("quantity", type_=sa.Integer)
RESERVE = Prepared(
    ticket_inventory.update()
    .where(
        ticket_inventory.c.event_slug == sa.bindparam("event_slug"),
        ticket_inventory.c.ticket_type == sa.bindparam("ticket_type"),
        ticket_inventory.c.sold + _QUANTITY <= ticket_inventory.c.capacity,
    )
    .values(sold=ticket_inventory.c.sold + _QUANTITY)
    .returning(ticket_inventory.c.sold)
)


async def reserve(database: Database, event_slug: str, ticket_type: str, quantity: int) -> bool:
    """Take `quantity` seats if that many are left. Call inside the order's transaction."""
    sold = await database.fetch_val(
        RESERVE.bind(event_slug=event_slug, ticket_type=ticket_type, quantity=quantity)
    )
    return sold is not None


class SeatsFollowStatus:
    """A pipeline step: give seats back on failure; take them again for a late payment."""

    async def __call__(self, step: ChangeInProgress) -> None:
        order, previous, to_status = step.order, step.previous, step.change.to_status
        event_slug, ticket_type = order.event_slug, order.ticket_type
        if not event_slug or not ticket_type:
            return
        releasing = to_status in RELEASING and previous not in RELEASING
        taking_again = to_status == COMPLETED and previous in RELEASING
        if not (releasing or taking_again):
            # Most changes (a payment of an order still holding its seats): no statement, and
            # none built; building `key` was 3.7% of a PostgreSQL callback's samples.
            return
        await _move_seats(step.database, order, _row(event_slug, ticket_type), previous, releasing=releasing)


async def _move_seats(
    database: Database, order: OrderRow, key: Any, previous: str | None, *, releasing: bool
) -> None:
    quantity = order.quantity
    if releasing:
        await database.execute(
            ticket_inventory.update().where(key).values(sold=ticket_inventory.c.sold - quantity)
        )
    else:
        row = await database.fetch_one(
            ticket_inventory.update()
            .where(key)
            .values(sold=ticket_inventory.c.sold + quantity)
            .returning(ticket_inventory.c.sold, ticket_inventory.c.capacity)
        )
        over = 0 if row is None else row["sold"] - row["capacity"]
        if over > 0:
            note = f"paid after {previous}: {over} seat(s) over capacity"
            await database.execute(orders.update().where(orders.c.id == order.id).values(needs_review=note))
            log.warning("order %s needs review: %s", order.id, note)
