"""What checkout refuses before anything is stored or pushed, with a `409` the page understands.

- `sales_closed`: the event's sales have ended (server/sales_window.py).
- `already_bought`: this e-mail address and this phone number already paid for tickets to
  this event, and the request does not say `confirm_repeat: true`. It catches the customer
  who pressed Back to a filled form and paid again; the page asks "Buy more?" and sends the
  flag. Both the address and the number must match: anyone may type an address, so the
  address alone would tell a stranger who has tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.lifecycle import COMPLETED
from server.orders.validation import CheckoutRequest
from server.sales_window import now_utc
from server.store import Database
from server.store.prepared import Prepared
from server.store.tables import customers, orders

SALES_CLOSED = "sales_closed"
ALREADY_BOUGHT = "already_bought"


class SaleRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SaleGuard:
    database: Database
    catalogue: Catalogue

    async def check(self, request: CheckoutRequest, now: datetime | None = None) -> None:
        """Nothing when the order may go ahead; SaleRefused saying why not."""
        event = self.catalogue.events[request.event]
        if not event.on_sale(now or now_utc()):
            raise SaleRefused(SALES_CLOSED, "Ticket sales for this event have closed.")
        if not request.confirm_repeat and await self.paid_before(request):
            raise SaleRefused(
                ALREADY_BOUGHT,
                "You already have tickets for this event. Send confirm_repeat: true to buy more.",
            )

    async def paid_before(self, request: CheckoutRequest) -> bool:
        found = PAID_BEFORE.bind(email=request.email, event_slug=request.event, phone=request.phone)
        return await self.database.fetch_val(found) is not None


# Built once, as a checkout's other statements (server/orders/checkout.py): built per
# checkout it was 4-5% of the web process's loop in the 5,000-buyer sale.
PAID_BEFORE = Prepared(
    sa.select(orders.c.id)
    .select_from(orders.join(customers, customers.c.id == orders.c.customer_id))
    .where(
        customers.c.email == sa.bindparam("email"),
        orders.c.event_slug == sa.bindparam("event_slug"),
        orders.c.phone == sa.bindparam("phone"),
        orders.c.payment_status == COMPLETED,
    )
    .limit(1)
)
