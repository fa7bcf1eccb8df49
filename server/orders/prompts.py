"""What a waiting customer can do: have the prompt sent again, or cancel the order.

Both need only the order id, like the status routes. A new push goes to the phone the
order was placed with, never to one the request names, and only once the previous prompt's
window has passed (two prompts open at once could both be paid). It counts against the push
limits like a checkout's. Cancelling an unpaid order is final for the customer, but a
success that arrives later still completes it: money wins (DESIGN rule 5).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import CANCELLED, TERMINAL
from server.orders.push_limits import PushLimits
from server.payments.pushes import SENDING, PushAttemptTaken, PushResult, PushSender, latest_push
from server.status.document import StatusUpdate
from server.status.reader import ORDER_BY_ID
from server.store import Database
from server.store.rows import OrderRow
from server.store.tables import customers
from server.transitions.change import Change, OrderNotFound
from server.transitions.changes import StatusChanges

log = logging.getLogger("server.payments")


class OrderFinal(Exception):
    """The order is completed, failed, cancelled or expired: nothing more to do."""

    def __init__(self, update: StatusUpdate) -> None:
        super().__init__(update.payment_status)
        self.update = update


class PromptOpen(Exception):
    """The latest prompt may still be on the phone; `retry_after` seconds until it is not."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"prompt open for {retry_after}s more")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Prompts:
    database: Database
    changes: StatusChanges
    pushes: PushSender
    push_limits: PushLimits

    async def send_again(self, order_id: str, client: str) -> PushResult:
        """A new STK push for the order. Raises OrderNotFound, OrderFinal, PromptOpen, PushLimited."""
        order = await self._order(order_id)
        latest = await latest_push(self.database, order_id)
        if latest is not None:
            open_ms = latest.sent_ms + int(self.pushes.prompt_window * 1000) - now_ms()
            if open_ms > 0:
                raise PromptOpen(math.ceil(open_ms / 1000))
            if latest.outcome == SENDING:
                # Still waiting for PayHero's answer to the last one (a slow PayHero).
                raise PromptOpen(math.ceil(self.pushes.prompt_window))
        phone, name = await self._contact(order)
        taken = await self.push_limits.take(phone, client)
        attempt = (latest.attempt if latest is not None else 0) + 1
        log.info("stk push sent again order=%s attempt=%d", order_id, attempt)
        try:
            return await self.pushes.push(order, attempt, phone, name)
        except PushAttemptTaken:
            # A concurrent request sent it a moment ago: its prompt is the open one.
            await self.push_limits.give_back(taken)
            raise PromptOpen(math.ceil(self.pushes.prompt_window)) from None

    async def cancel(self, order_id: str) -> StatusUpdate:
        """Cancel an unpaid order. Raises OrderNotFound, OrderFinal."""
        change = Change(CANCELLED, source="customer", fields={"result_desc": "Cancelled by the customer"})
        result = await self.changes.apply(order_id, change)
        if not result.applied:
            raise OrderFinal(result.update)
        log.info("order cancelled by the customer order=%s", order_id)
        return result.update

    async def _order(self, order_id: str) -> OrderRow:
        row = await self.database.fetch_one(ORDER_BY_ID.bind(order_id=order_id))
        if row is None:
            raise OrderNotFound(order_id)
        order = OrderRow.from_mapping(row)
        if order.payment_status in TERMINAL:
            update = await self.changes.reader.get(order_id)
            assert update is not None
            raise OrderFinal(update)
        return order

    async def _contact(self, order: OrderRow) -> tuple[str, str]:
        """The phone and name the order was placed with (the customer's, for older orders)."""
        if order.phone:
            return order.phone, f"{order.first_name} {order.last_name}"
        row = await self.database.fetch_one(
            sa.select(customers.c.phone, customers.c.first_name, customers.c.last_name).where(
                customers.c.id == order.customer_id
            )
        )
        if row is None:
            raise OrderNotFound(order.id)  # an order without a customer cannot be pushed
        return row["phone"], f"{row['first_name']} {row['last_name']}"
