"""Receiving PayHero's callback: store it as received, then apply it, idempotently.

The body is committed to `payhero_callbacks` before anything else (DESIGN rule 6), and
each stored callback is marked with what it did. One not yet marked when the process
died is applied again at start; the state rules make the second application a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from server.faults import crash_if
from server.payhero.callback import CallbackInvalid, PayHeroCallback, parse_callback
from server.payhero.client import PayHeroClient, PaymentProviderError
from server.status.changes import Change, StatusChanges
from server.status.document import COMPLETED, PENDING, now_ms
from server.status.hub import StatusHub
from server.store.prepared import Prepared
from server.store.tables import orders, payhero_callbacks

log = logging.getLogger("server.payments")

STORE_CALLBACK = Prepared(
    payhero_callbacks.insert()
    .values(received_ms=sa.bindparam("received_ms"), body=sa.bindparam("body"))
    .returning(payhero_callbacks.c.id)
)
ORDER_BY_NUMBER = Prepared(orders.select().where(orders.c.order_number == sa.bindparam("order_number")))
MARK_CALLBACK = Prepared(
    payhero_callbacks.update()
    .where(payhero_callbacks.c.id == sa.bindparam("inbox_id"))
    .values(
        outcome=sa.bindparam("outcome"),
        order_id=sa.bindparam("order_id"),
        processed_ms=sa.bindparam("processed_ms"),
    )
)

# How long a callback that beat our own "push accepted" write waits for it.
PUSH_RECORD_WAIT = 10.0


@dataclass(frozen=True)
class CallbackOutcome:
    order_id: str | None
    payment_status: str | None = None
    ignored: str | None = None

    def body(self) -> dict[str, Any]:
        if self.ignored is not None:
            return {"ok": True, "ignored": self.ignored}
        return {"ok": True, "order_id": self.order_id, "payment_status": self.payment_status}


@dataclass(frozen=True)
class CallbackProcessor:
    database: Database
    changes: StatusChanges
    hub: StatusHub
    payhero: PayHeroClient
    verify_success: bool = False
    # Told (result, outcome) for every callback applied: /metrics' callback counter.
    on_outcome: Callable[[str, str], None] | None = None
    crash_point: str | None = None

    async def receive(self, body: bytes) -> CallbackOutcome:
        """Store `body`, then apply it. Raises CallbackInvalid for a body that is no callback."""
        inbox_id = await self.database.fetch_val(STORE_CALLBACK.bind(received_ms=now_ms(), body=body))
        crash_if(self.crash_point, "after-callback-stored")
        return await self.apply_stored(int(inbox_id), body)

    async def apply_stored(self, inbox_id: int, body: bytes) -> CallbackOutcome:
        try:
            callback = parse_callback(body)
        except CallbackInvalid as exc:
            await self._mark(inbox_id, f"invalid: {exc}"[:64], None, "unparsed")
            log.warning("callback %d rejected: %s", inbox_id, exc)
            raise
        log.info(
            "callback received id=%d reference=%s checkout=%s code=%d",
            inbox_id,
            callback.external_reference,
            callback.checkout_request_id,
            callback.result_code,
        )
        order = await self._order_for(callback)
        target = callback.target_status
        if order is None:
            return await self._ignore(inbox_id, None, "unknown_order", target)
        if order["checkout_request_id"] != callback.checkout_request_id:
            return await self._ignore(inbox_id, order["id"], "checkout_request_mismatch", target)
        fields: dict[str, Any] = {"result_code": callback.result_code, "result_desc": callback.result_desc}
        if target == COMPLETED:
            problem = await self._success_problem(callback, order)
            if problem is not None:
                return await self._ignore(inbox_id, order["id"], problem, target, review=True)
            fields["receipt_number"] = callback.receipt_number
        result = await self.changes.apply(
            order["id"], Change(target, source="payhero-callback", fields=fields)
        )
        outcome = "applied" if result.applied else "duplicate"
        await self._mark(inbox_id, outcome, order["id"], target)
        return CallbackOutcome(order["id"], payment_status=result.update.payment_status)

    async def replay_unprocessed(self) -> int:
        """Apply callbacks stored but never marked (the process died in between)."""
        rows = await self.database.fetch_all(
            sa.select(payhero_callbacks.c.id, payhero_callbacks.c.body)
            .where(payhero_callbacks.c.processed_ms.is_(None))
            .order_by(payhero_callbacks.c.id)
        )
        for row in rows:
            try:
                await self.apply_stored(row._mapping["id"], bytes(row._mapping["body"]))
            except CallbackInvalid:
                continue
        if rows:
            log.info("replayed %d stored callback(s) left unapplied by an earlier process", len(rows))
        return len(rows)

    async def _order_for(self, callback: PayHeroCallback) -> dict[str, Any] | None:
        query = ORDER_BY_NUMBER.bind(order_number=callback.external_reference)
        row = await self.database.fetch_one(query)
        if row is None:
            return None
        order = dict(row._mapping)
        if order["payment_status"] == PENDING and order["checkout_request_id"] is None:
            # The callback beat our own record of PayHero's answer to the push: wait for it.
            watch = await self.hub.watch(order["id"])
            try:
                row = await self.database.fetch_one(query)
                if row is not None and row._mapping["payment_status"] == PENDING:
                    await watch.next(PUSH_RECORD_WAIT)
                    row = await self.database.fetch_one(query)
            finally:
                watch.close()
            order = dict(row._mapping) if row is not None else order
        return order

    async def _success_problem(self, callback: PayHeroCallback, order: dict[str, Any]) -> str | None:
        """Why a success callback must not complete this order, or None."""
        if callback.amount != order["amount"]:
            log.warning(
                "callback amount %s does not match order %s amount %s: recorded for review",
                callback.amount,
                order["id"],
                order["amount"],
            )
            return "amount_mismatch"
        if callback.receipt_number is None:
            return "missing_receipt"
        if self.verify_success and order["payhero_reference"]:
            try:
                status = await self.payhero.transaction_status(order["payhero_reference"])
            except PaymentProviderError as exc:
                log.warning("could not verify callback for order %s: %s", order["id"], exc.reason)
                return "unverified"
            if not status.succeeded:
                log.warning("PayHero says %s for order %s: success not applied", status.status, order["id"])
                return "unverified"
        return None

    async def _ignore(
        self, inbox_id: int, order_id: str | None, reason: str, result: str, *, review: bool = False
    ) -> CallbackOutcome:
        await self._mark(inbox_id, f"{'review' if review else 'ignored'}: {reason}", order_id, result)
        log.info("callback %d ignored: %s order=%s", inbox_id, reason, order_id or "-")
        return CallbackOutcome(order_id, ignored=reason)

    async def _mark(self, inbox_id: int, outcome: str, order_id: str | None, result: str) -> None:
        await self.database.execute(
            MARK_CALLBACK.bind(inbox_id=inbox_id, outcome=outcome, order_id=order_id, processed_ms=now_ms())
        )
        if self.on_outcome is not None:
            # "invalid: <parser message>" has free text: one label value for all of them.
            label = "invalid" if outcome.startswith("invalid") else outcome.replace(": ", ":")
            self.on_outcome(result, label)
