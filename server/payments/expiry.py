"""Giving up on payments nobody answered, without losing one that was paid after all.

Orders left `pending` or `processing` past `PAYMENT_EXPIRY` are checked with PayHero's
transaction status first: a success completes (the customer paid, the callback was lost),
a failure fails, and only "no result" expires.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database

from server.payhero.client import PayHeroClient, PaymentProviderError
from server.status.changes import Change, StatusChanges
from server.status.document import COMPLETED, EXPIRED, FAILED, PENDING, PROCESSING, now_ms
from server.store.tables import orders

log = logging.getLogger("server.payments")

BATCH = 200


@dataclass
class ExpiryWorker:
    database: Database
    changes: StatusChanges
    payhero: PayHeroClient
    expiry_seconds: float
    interval: float

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expiry pass failed; trying again in %.0fs", self.interval)

    async def run_once(self) -> int:
        cutoff = now_ms() - int(self.expiry_seconds * 1000)
        rows = await self.database.fetch_all(
            sa.select(orders.c.id, orders.c.payhero_reference)
            .where(orders.c.payment_status.in_([PENDING, PROCESSING]), orders.c.updated_ms < cutoff)
            .order_by(orders.c.updated_ms)
            .limit(BATCH)
        )
        for row in rows:
            await self.settle(row._mapping["id"], row._mapping["payhero_reference"])
        return len(rows)

    async def settle(self, order_id: str, reference: str | None) -> None:
        change = Change(EXPIRED, source="expiry", fields={"result_desc": "No answer from M-PESA in time"})
        if reference:
            try:
                status = await self.payhero.transaction_status(reference)
            except PaymentProviderError as exc:
                log.warning("status check for order %s failed (%s); expiring", order_id, exc.reason)
            else:
                if status.succeeded:
                    change = Change(
                        COMPLETED,
                        source="status-check",
                        fields={"result_code": 0, "receipt_number": status.receipt_number},
                        note="paid; the callback never arrived",
                    )
                elif status.status == "FAILED":
                    change = Change(
                        FAILED, source="status-check", fields={"result_desc": "M-PESA reported a failure"}
                    )
        result = await self.changes.apply(order_id, change)
        if result.applied:
            log.info("order %s settled by the expiry pass as %s", order_id, change.to_status)
