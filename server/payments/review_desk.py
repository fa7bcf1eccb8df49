"""A person completes an order held for review: the one function behind the command line's
`complete-order` and the organiser's desk's **Complete** (`desk/reviews.py`).

It acts only on an order held for review (`needs_review`), or on another one with an
explicit override and a reason, which is recorded on the change, with who acted (the desk
token's name, or "command line") in the same transaction. It refuses a receipt that
already paid for another order (issue 24): the receipt is claimed in the completion's own
transaction (`transitions/receipts.py`), so two people completing two orders with one
receipt at once complete one.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.lifecycle import COMPLETED
from server.store import Database
from server.store.tables import orders
from server.transitions.change import ActedBy, Change, ChangeFields
from server.transitions.changes import StatusChanges
from server.transitions.receipts import ReceiptTaken, receipt_owner

OPERATOR_SOURCE = "operator"
# The action a completion records (`desk_actions.action`).
COMPLETE = "complete"


@dataclass(frozen=True)
class DeskOutcome:
    """What the completion did: `error` says why nothing changed."""

    order_id: str | None
    payment_status: str | None
    error: str | None = None


async def complete_after_review(
    database: Database,
    changes: StatusChanges,
    order_ref: str,
    receipt: str,
    *,
    note: str,
    actor: str,
    override_reason: str | None = None,
) -> DeskOutcome:
    """Complete the order `order_ref` (its id or ORD- number) with M-PESA receipt `receipt`."""
    row = await database.fetch_one(
        sa.select(orders.c.id, orders.c.payment_status, orders.c.needs_review).where(
            (orders.c.id == order_ref) | (orders.c.order_number == order_ref.upper())
        )
    )
    if row is None:
        return DeskOutcome(None, None, "no order has this id or number")
    order_id, status, held = row["id"], row["payment_status"], row["needs_review"]
    if status == COMPLETED:
        return DeskOutcome(order_id, status, f"the order is already {status}; nothing changed")
    if held is None and not (override_reason and override_reason.strip()):
        return DeskOutcome(
            order_id,
            status,
            "the order is not held for review; nothing changed (--override --reason to force)",
        )
    owner = await receipt_owner(database, receipt)
    if owner is not None and owner != order_id:
        return DeskOutcome(
            order_id, status, f"receipt {receipt} already paid for order {owner}; nothing changed"
        )
    recorded = note if override_reason is None else f"override: {override_reason.strip()}; {note}"
    fields: ChangeFields = {
        "receipt_number": receipt,
        "result_code": 0,
        "result_desc": "Completed after review",
    }
    try:
        # The action rides on the change: its row commits in the change's transaction, so there
        # is no completion without its actor, and no actor's row for one that did not apply.
        acted = ActedBy(COMPLETE, actor, note=recorded, receipt=receipt, resolves=held)
        change = Change(COMPLETED, source=OPERATOR_SOURCE, fields=fields, note=recorded[:255], acted_by=acted)
        result = await changes.apply(order_id, change)
    except ReceiptTaken as taken:
        return DeskOutcome(
            order_id, status, f"receipt {receipt} already paid for order {taken.owner}; nothing changed"
        )
    now = result.update.payment_status
    if not result.applied:
        return DeskOutcome(order_id, now, f"the order is already {now}; nothing changed")
    return DeskOutcome(order_id, now)
