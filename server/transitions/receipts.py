"""One M-PESA receipt pays for one order (issue 24).

A completion claims its receipt in `payment_receipts`, whose key is the receipt, inside the
change's transaction: a second order completed with a receipt already claimed rolls back
whole (no seats, no tickets, no e-mail) and the caller holds it for review. The key holds
under concurrency on both stores: on PostgreSQL the second INSERT waits on the first
transaction's index entry and then inserts nothing, and the owner it reads is the first
order; SQLite writes one transaction at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import COMPLETED
from server.store import Database
from server.store.prepared import Prepared
from server.store.tables import payment_receipts
from server.transitions.change import ChangeInProgress

# The claim, or nothing where the receipt is claimed already: no error to catch, so no
# savepoint around it (two statements fewer per completion; on PostgreSQL a failed INSERT
# would have poisoned the transaction). A claim another transaction holds uncommitted is
# waited for, as the key's unique index was.
CLAIM_RECEIPT = Prepared(
    sa.text(
        "INSERT INTO payment_receipts (receipt_number, order_id, created_ms) "
        "VALUES (:receipt_number, :order_id, :created_ms) "
        "ON CONFLICT (receipt_number) DO NOTHING RETURNING order_id"
    )
)
RECEIPT_OWNER = Prepared(
    sa.select(payment_receipts.c.order_id).where(
        payment_receipts.c.receipt_number == sa.bindparam("receipt_number")
    )
)


class ReceiptTaken(Exception):
    """The receipt already paid for another order; the completion was rolled back."""

    def __init__(self, receipt_number: str, owner: str | None) -> None:
        super().__init__(f"receipt {receipt_number} already completed order {owner}")
        self.receipt_number = receipt_number
        self.owner = owner


@dataclass(frozen=True)
class ReceiptPaysOnce:
    """The first in-transaction step of a completion: claim the receipt, or undo it all.

    The claim is kept for later (`Database.fetch_column_later`): on PostgreSQL it goes with
    the tickets' codes and the outbox rows in one round trip, and `confirm` reads it after."""

    async def __call__(self, change: ChangeInProgress) -> None:
        if change.change.to_status != COMPLETED:
            return
        receipt = change.order.receipt_number
        if not receipt:
            return  # a status check that named no receipt: nothing to claim
        change.receipt_claim = await change.database.fetch_column_later(
            CLAIM_RECEIPT.bind(receipt_number=receipt, order_id=change.order.id, created_ms=now_ms())
        )

    async def confirm(self, change: ChangeInProgress) -> None:
        """Raise `ReceiptTaken` where the receipt paid another order already (the change
        rolls back whole: its tickets and e-mails with it)."""
        claim, receipt = change.receipt_claim, change.order.receipt_number
        if claim is None or receipt is None or claim.first is not None:
            return
        owner = await receipt_owner(change.database, receipt)
        if owner != change.order.id:
            raise ReceiptTaken(receipt, owner)


async def receipt_owner(database: Database, receipt_number: str) -> str | None:
    """The order a receipt already paid for, or None."""
    owner = await database.fetch_val(RECEIPT_OWNER.bind(receipt_number=receipt_number))
    return None if owner is None else str(owner)
