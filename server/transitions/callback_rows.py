"""The `payhero_callbacks` row's mark and its push's noted result: what a callback did.

One writer of those values for both ways they are written: inside a status change's
transaction when the callback is the change (`FromCallback` on the change: the callback that
paid or failed the order is `applied` in the same commit), or on their own when the callback
changes no order (`server/payments/callbacks.py`: a duplicate, an ignored or held one).
"""

from __future__ import annotations

import sqlalchemy as sa

from server.lifecycle import COMPLETED
from server.store import Database
from server.store.prepared import Prepared
from server.store.tables import payhero_callbacks, payment_pushes
from server.transitions.change import ChangeInProgress

# The first mark stands: where two passes of two processes applied one stored row at once
# (one status change between them, the other a duplicate of it), the row keeps `applied`.
MARK_CALLBACK = Prepared(
    payhero_callbacks.update()
    .where(payhero_callbacks.c.id == sa.bindparam("inbox_id"), payhero_callbacks.c.processed_ms.is_(None))
    .values(
        outcome=sa.bindparam("outcome"),
        order_id=sa.bindparam("order_id"),
        processed_ms=sa.bindparam("processed_ms"),
    )
)
NOTE_RESULT = Prepared(
    payment_pushes.update()
    .where(
        payment_pushes.c.id == sa.bindparam("push_id"),
        # A success is never overwritten by a later failure's word.
        sa.or_(payment_pushes.c.result.is_(None), payment_pushes.c.result != COMPLETED),
    )
    .values(result=sa.bindparam("result"), receipt_number=sa.bindparam("receipt_number"))
)
APPLIED = "applied"


async def mark_callback(
    database: Database, *, inbox_id: int, outcome: str, order_id: str | None, at_ms: int, later: bool = False
) -> None:
    """The stored callback's outcome (`applied`, `duplicate`, `ignored: …`, `review: …`).
    `later`: inside a change's transaction, with its next statement (`Database.execute_later`)."""
    mark = MARK_CALLBACK.bind(inbox_id=inbox_id, outcome=outcome, order_id=order_id, processed_ms=at_ms)
    await (database.execute_later(mark) if later else database.execute(mark))


async def note_push_result(
    database: Database, *, push_id: int, result: str, receipt_number: str | None, later: bool = False
) -> None:
    """What PayHero said of a push (a success is never overwritten by a later failure).
    `later` as for `mark_callback`."""
    note = NOTE_RESULT.bind(push_id=push_id, result=result, receipt_number=receipt_number)
    await (database.execute_later(note) if later else database.execute(note))


class MarkCallbackWithChange:
    """In the change's transaction: the callback a change applies is marked `applied` (and
    noted on its push) as the order moves, so no reader ever sees an order paid by a callback
    still marked unprocessed, and a crash between the two cannot leave it to be replayed at
    start and marked a duplicate of its own payment.

    Both are writes to rows only this callback touches, read by nobody in the transaction:
    on PostgreSQL they travel with its next statement (`Database.execute_later`)."""

    async def __call__(self, change: ChangeInProgress) -> None:
        callback = change.change.from_callback
        if callback is None:
            return
        order = change.order
        if callback.push_id is not None:
            await note_push_result(
                change.database,
                push_id=callback.push_id,
                result=change.change.to_status,
                receipt_number=callback.receipt_number,
                later=True,
            )
        await mark_callback(
            change.database,
            inbox_id=callback.inbox_id,
            outcome=APPLIED,
            order_id=order.id,
            at_ms=order.updated_ms,
            later=True,
        )
