"""Finding what a callback is about: its order, and what it said about a push.

The order is found by the order number PayHero echoes (`ExternalReference` /
`external_reference`); which of its pushes the callback answers is `attribution.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import sqlalchemy as sa

from server.payhero.callback_parser import PayHeroCallback
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import OrderRow, PushRow
from server.store.tables import order_changes, orders, payment_pushes
from server.transitions.callback_rows import note_push_result

_PUSH = "push_"
# The order a callback names and all its pushes in one round trip, where two statements
# were two: one row per push, or one row with no push for an order that has none.
ORDER_AND_PUSHES = Prepared(
    sa.select(orders, *(column.label(_PUSH + column.name) for column in payment_pushes.c))
    .select_from(orders.outerjoin(payment_pushes, payment_pushes.c.order_id == orders.c.id))
    .where(orders.c.order_number == sa.bindparam("order_number"))
    .order_by(payment_pushes.c.attempt)
)
# A push's columns of that join, under their labels, in `PushRow`'s order: read in C.
_PUSH_VALUES = itemgetter(*(_PUSH + name for name in PushRow.COLUMNS))
LAST_CHANGE_SOURCE = Prepared(
    sa.select(order_changes.c.source)
    .where(order_changes.c.order_id == sa.bindparam("order_id"))
    .order_by(order_changes.c.version.desc())
    .limit(1)
)


@dataclass(frozen=True)
class CallbackOrder:
    """The order a callback names, and its pushes by attempt."""

    order: OrderRow
    pushes: list[PushRow]


async def order_for(database: Database, callback: PayHeroCallback) -> CallbackOrder | None:
    rows = await database.fetch_all(ORDER_AND_PUSHES.bind(order_number=callback.external_reference))
    if not rows:
        return None
    # The order's columns keep their own names in the join; the pushes' carry `push_`.
    order = OrderRow.from_mapping(rows[0])
    pushes = [PushRow(*_PUSH_VALUES(row)) for row in rows if row[_PUSH + "id"] is not None]
    return CallbackOrder(order, pushes)


async def note_result(database: Database, push_id: int | None, callback: PayHeroCallback) -> None:
    """Record on the push what its callback said (a success is never overwritten)."""
    if push_id is None:
        return
    await note_push_result(
        database, push_id=push_id, result=callback.target_status, receipt_number=callback.receipt_number
    )


async def failed_by_provider(database: Database, order: OrderRow) -> bool:
    """Whether the order's last change was PayHero's own word (its callback, or its
    transaction status read by the expiry pass), not our timer."""
    source = await database.fetch_val(LAST_CHANGE_SOURCE.bind(order_id=order.id))
    return source in PROVIDER_SOURCES


CALLBACK_SOURCE = "payhero-callback"
STATUS_CHECK_SOURCE = "status-check"
PROVIDER_SOURCES = frozenset({CALLBACK_SOURCE, STATUS_CHECK_SOURCE})
