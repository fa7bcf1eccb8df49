"""Finding what a callback is about: its order, and what it said about a push.

The order is found by the order number PayHero echoes (`ExternalReference` /
`external_reference`); which of its pushes the callback answers is `attribution.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

import sqlalchemy as sa

from server.payhero.callback_parser import PayHeroCallback
from server.store import Database, ResultRow
from server.store.prepared import Prepared
from server.store.rows import OrderRow, PushRow
from server.store.tables import order_changes, orders, payhero_callbacks, payment_pushes
from server.transitions.callback_rows import note_push_result

_PUSH = "push_"
# The order a callback names and all its pushes in one round trip, where two statements
# were two: one row per push, or one row with no push for an order that has none.
_ORDER_AND_PUSHES = (
    sa.select(orders, *(column.label(_PUSH + column.name) for column in payment_pushes.c))
    .select_from(orders.outerjoin(payment_pushes, payment_pushes.c.order_id == orders.c.id))
    .where(orders.c.order_number == sa.bindparam("order_number"))
    .order_by(payment_pushes.c.attempt)
)
ORDER_AND_PUSHES = Prepared(_ORDER_AND_PUSHES)
# A callback's body stored as received (`payhero_callbacks`), its id returned.
_STORE_CALLBACK = (
    payhero_callbacks.insert()
    .values(
        received_ms=sa.bindparam("received_ms"),
        body=sa.bindparam("body"),
        replay_of=sa.bindparam("replay_of"),
    )
    .returning(payhero_callbacks.c.id)
)
STORE_CALLBACK = Prepared(_STORE_CALLBACK)
# PostgreSQL: both in one statement, the INSERT a data-modifying CTE (atomic on its own, so
# the body is stored as surely as by the INSERT alone): one round trip fewer per callback.
# Always a row: the stored id, with the order's and push's columns or NULLs. SQLite has no
# data-modifying CTE, and no round trips to save.
_STORED = _STORE_CALLBACK.cte("stored")
_NAMED = _ORDER_AND_PUSHES.subquery("named")
STORE_AND_FIND = Prepared(
    sa.select(_STORED.c.id.label("inbox_id"), *_NAMED.c)
    .select_from(_STORED.outerjoin(_NAMED, sa.true()))
    .order_by(_NAMED.c[_PUSH + "attempt"])
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
    return _named_order(rows)


async def store_and_find(
    database: Database, body: bytes, received_ms: int, callback: PayHeroCallback
) -> tuple[int, CallbackOrder | None]:
    """PostgreSQL only: store `body` (as `STORE_CALLBACK`) and find the order its parsed
    `callback` names (as `order_for`), in one statement; the stored id and the order."""
    rows = await database.fetch_all(
        STORE_AND_FIND.bind(
            received_ms=received_ms, body=body, replay_of=None, order_number=callback.external_reference
        )
    )
    inbox_id = int(rows[0]["inbox_id"])
    return inbox_id, _named_order(rows if rows[0]["id"] is not None else [])


def _named_order(rows: Sequence[ResultRow]) -> CallbackOrder | None:
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
