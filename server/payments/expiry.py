"""Giving up on payments nobody answered, without losing one that was paid after all.

Orders left `pending` or `processing` past `PAYMENT_EXPIRY` (counted from their last
change, and from their latest push: one sent again is recorded before PayHero answers it,
and the order changes only once it has) are checked with PayHero's transaction status for every
push PayHero took: a success completes (the customer paid, the callback was lost), failures
on every push fail (a push whose answer was lost cannot be asked about, so it is no
failure), and only "no result" expires. Where PayHero could not be asked about a push (not
reached, no answer, a 5xx) and none was paid, the order stays open for the next pass and the
pass counts an error: not knowing is not "not paid". Once such an order has been open
`UNKNOWN_REVIEW_AFTER` past PAYMENT_EXPIRY it is also held for review (`status_unknown`), so a
person with the M-PESA statement is told; the pass goes on asking, and PayHero's answer, when
it comes, settles the order and ends that review. An order held for review is never
completed here: what PayHero says is recorded on the change, and a person decides. Nor is
one whose success PayHero states for another amount or order, or with a receipt that already
paid for another order: those are held for review (issue 24).
A row that cannot be settled is logged and counted, and the pass goes on with the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import COMPLETED, EXPIRED, FAILED, PENDING, PROCESSING, ReviewReason, review_code
from server.payhero.client import (
    PayHeroClient,
    PaymentProviderError,
    ProviderUnavailable,
    TransactionStatus,
)
from server.payments.matching import STATUS_CHECK_SOURCE
from server.store import Database, log_failed_pass
from server.store.tables import orders, payment_pushes
from server.transitions.change import Change, ChangeFields
from server.transitions.changes import StatusChanges
from server.transitions.receipts import ReceiptTaken

log = logging.getLogger("server.payments")

BATCH = 200
# How long past PAYMENT_EXPIRY an order PayHero cannot be asked about stays open before a
# person is told too (`status_unknown`): long enough for a PayHero outage to pass unnoticed
# by the desk, short enough that a paid customer is not left without tickets through the
# evening of the event.
UNKNOWN_REVIEW_AFTER = 3600.0


@dataclass
class ExpiryWorker:
    database: Database
    changes: StatusChanges
    payhero: PayHeroClient
    expiry_seconds: float
    interval: float
    # Told the task's name when one order could not be settled (a bad row): /metrics.
    on_error: Callable[[str], None] | None = None
    # Run first on every pass: pushes a dead process left without an answer (PushSender).
    before_pass: Callable[[], Awaitable[object]] | None = None
    # Told the reason when the pass holds an order for review: /metrics' review counter.
    on_review: Callable[[str], None] | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failed_pass(log, "expiry pass", f"in {self.interval:.0f}s", exc)

    async def run_once(self) -> int:
        if self.before_pass is not None:
            await self.before_pass()
        cutoff = now_ms() - int(self.expiry_seconds * 1000)
        rows = await self.database.fetch_all(
            sa.select(
                orders.c.id,
                orders.c.payhero_reference,
                orders.c.needs_review,
                orders.c.order_number,
                orders.c.amount,
                orders.c.updated_ms,
            )
            .where(
                orders.c.payment_status.in_([PENDING, PROCESSING]),
                orders.c.updated_ms < cutoff,
                ~_pushed_since(orders.c.id, cutoff),
            )
            .order_by(orders.c.updated_ms)
            .limit(BATCH)
        )
        for found in rows:
            try:
                await self.settle(
                    found["id"],
                    found["payhero_reference"],
                    held=found["needs_review"],
                    paid_for=(str(found["order_number"]), int(found["amount"])),
                    cutoff=cutoff,
                    open_since=int(found["updated_ms"]),
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("order %s could not be settled by the expiry pass; going on", found["id"])
                if self.on_error is not None:
                    self.on_error("payment-expiry")
        return len(rows)

    async def _references(self, order_id: str, reference: str | None) -> tuple[list[str], bool]:
        """PayHero's references of the order's pushes, and whether a push has none (its answer
        was lost: nobody can ask PayHero about it, so nobody knows it failed)."""
        rows = await self.database.fetch_all(
            sa.select(payment_pushes.c.payhero_reference)
            .where(payment_pushes.c.order_id == order_id)
            .order_by(payment_pushes.c.attempt)
        )
        known: list[str | None] = [row["payhero_reference"] for row in rows]
        found = [ref for ref in known if ref is not None]
        unasked = len(found) < len(known)
        if reference and reference not in found:
            found.append(reference)  # an order from before pushes were recorded
        return found, unasked

    async def _sent_again(self, order_id: str, cutoff: int) -> bool:
        found = await self.database.fetch_val(sa.select(_pushed_since(sa.literal(order_id), cutoff)))
        return bool(found)

    async def _statuses(
        self, order_id: str, references: list[str]
    ) -> tuple[dict[str, TransactionStatus], int]:
        """What PayHero says of each reference, and how many it could not be asked about
        (not reached, no answer, a 5xx). A refusal (4xx) is PayHero's answer: no result."""
        heard = {}
        unreachable = 0
        for reference in references:
            try:
                heard[reference] = await self.payhero.transaction_status(reference)
            except PaymentProviderError as exc:
                unreachable += isinstance(exc, ProviderUnavailable)
                log.warning("status check for order %s (%s) failed: %s", order_id, reference, exc.reason)
        return heard, unreachable

    async def settle(
        self,
        order_id: str,
        reference: str | None,
        *,
        held: str | None = None,
        paid_for: tuple[str, int] | None = None,
        cutoff: int | None = None,
        open_since: int | None = None,
    ) -> None:
        """Settle one order by what PayHero says of its pushes. `paid_for`: the order's number
        and amount, which PayHero's success must not contradict. With `cutoff`, an order that
        was sent a push at or after it (epoch ms) is left alone, unless it was paid.
        `open_since`: its last change (epoch ms), which says when a person is told of an order
        PayHero cannot be asked about."""
        references, unasked = await self._references(order_id, reference)
        heard, unreachable = await self._statuses(order_id, references)
        paid_by = next((reference for reference, status in heard.items() if status.succeeded), None)
        paid = heard[paid_by] if paid_by is not None else None
        if paid is None and unreachable:
            # Not knowing is no "not paid": the callback may have been refused (a store that
            # was down) and this check is then the payment's only word. The next pass asks
            # again; expiring now would end a paid order with nobody told.
            log.warning(
                "order %s left open: PayHero could not be asked about %d of its push(es)",
                order_id,
                unreachable,
            )
            if self.on_error is not None:
                self.on_error("payment-expiry")
            overdue = (self.expiry_seconds + UNKNOWN_REVIEW_AFTER) * 1000
            if not held and open_since is not None and now_ms() - open_since > overdue:
                detail = f"PayHero not reached about {unreachable} push(es) since the prompt expired"
                await self._hold(order_id, ReviewReason.STATUS_UNKNOWN, detail)
            return
        # PayHero answered: the review of not knowing, if this pass opened one, is over. The
        # change clears its mark in the same commit (the desk's queue no longer lists it).
        answered_review = held is not None and review_code(held) == ReviewReason.STATUS_UNKNOWN
        if answered_review:
            held = None
        expired: ChangeFields = {"result_desc": "No answer from M-PESA in time"}
        if paid is not None and paid_for is not None and paid.contradicts(*paid_for):
            # PayHero took another amount (or its record is another order's): not this sale.
            held = await self._hold(order_id, ReviewReason.AMOUNT_MISMATCH, f"amount {paid.amount}")
        if paid is not None and held:
            said = f"PayHero says SUCCESS (receipt {paid.receipt_number or '-'}); not completed: {held}"
            log.warning("order %s held for review: %s", order_id, said)
            change = Change(EXPIRED, source="expiry", fields=expired, note=said[:255])
        elif paid is not None:
            change = Change(
                COMPLETED,
                source=STATUS_CHECK_SOURCE,
                fields={"result_code": 0, "receipt_number": paid.receipt_number},
                note="paid; the callback never arrived",
            )
        elif (
            heard
            and not unasked
            and len(heard) == len(references)
            and all(s.status == "FAILED" for s in heard.values())
        ):
            failed: ChangeFields = {"result_desc": "M-PESA reported a failure"}
            change = Change(FAILED, source=STATUS_CHECK_SOURCE, fields=failed)
        else:
            said = ", ".join(status.status for status in heard.values()) or "nothing"
            change = Change(EXPIRED, source="expiry", fields=expired, note=f"PayHero said: {said}"[:255])
        if answered_review and not held:
            change = replace(change, fields={**change.fields, "needs_review": None})
        if change.to_status != COMPLETED and cutoff is not None and await self._sent_again(order_id, cutoff):
            # The customer asked for a new prompt while PayHero was being asked about the
            # old ones: that prompt may be paid yet, and the next pass judges it by its time.
            log.info("order %s was sent a new prompt during the expiry pass; left open", order_id)
            return
        try:
            result = await self.changes.apply(order_id, change)
        except ReceiptTaken as taken:
            note = f"receipt {taken.receipt_number} already paid for order {taken.owner}"
            held = await self._hold(order_id, ReviewReason.RECEIPT_REUSED, note)
            said = f"PayHero says SUCCESS; not completed: {held}"
            result = await self.changes.apply(
                order_id, Change(EXPIRED, source="expiry", fields=expired, note=said[:255])
            )
            return
        if paid is not None:
            # The push PayHero found paid: its callback, if it ever comes, is this payment's.
            await self.database.execute(
                payment_pushes.update()
                .where(payment_pushes.c.order_id == order_id, payment_pushes.c.payhero_reference == paid_by)
                .values(result=COMPLETED, receipt_number=paid.receipt_number)
            )
        if result.applied:
            log.info("order %s settled by the expiry pass as %s", order_id, change.to_status)

    async def _hold(self, order_id: str, reason: str, detail: str) -> str:
        """Mark the order for a person, as a held callback does; returns the mark."""
        mark = f"review: {reason} (status check: {detail})"[:255]
        log.warning("order %s held for review: %s", order_id, mark)
        await self.database.execute(orders.update().where(orders.c.id == order_id).values(needs_review=mark))
        if self.on_review is not None:
            self.on_review(reason)
        return mark


def _pushed_since(order_id: sa.ColumnElement[str], cutoff: int) -> sa.Exists:
    """Whether the order was sent a push at or after `cutoff` (epoch ms): its prompt may
    still be on the phone, whatever its last change says (bench.flash_sale found an order
    expired while its second push was in flight, its last change still the first push's)."""
    return sa.exists().where(payment_pushes.c.order_id == order_id, payment_pushes.c.sent_ms >= cutoff)
