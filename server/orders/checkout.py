"""Placing an order: store customer, order and tickets in one transaction, then the STK push."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa

from server.abuse.addresses import client_key
from server.catalogue import Catalogue
from server.clock import now_ms
from server.logs import mask_phone
from server.orders.unpaid_holds import UnpaidCaps, check_unpaid
from server.orders.validation import CheckoutInvalid, CheckoutRequest
from server.payments.pushes import REFUSED, OrderToPay, PushResult, PushSender
from server.status.document import StatusUpdate
from server.store import Database
from server.store.ids import random_id
from server.store.prepared import Prepared, parameters
from server.store.tables import tickets
from server.transitions.changes import StatusChanges
from server.transitions.seats import reserve

log = logging.getLogger("server.orders")


class PushFailed(Exception):
    """The order is stored as failed because PayHero did not take the STK push."""

    def __init__(self, update: StatusUpdate, reason: str) -> None:
        super().__init__(reason)
        self.update = update
        self.reason = reason


# A known e-mail address keeps the name and phone it has: anyone can type anyone's address
# into a checkout. The order itself carries what this checkout typed. The same text on both
# stores; built once, as is the tickets' INSERT (a statement built per call was SQLAlchemy's
# coercions and cache key on every checkout).
UPSERT_CUSTOMER = Prepared(
    sa.text(
        "INSERT INTO customers (id, email, first_name, last_name, phone, created_ms) "
        "VALUES (:id, :email, :first_name, :last_name, :phone, :created_ms) "
        "ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id"
    )
)
INSERT_TICKET = Prepared(
    tickets.insert().values(parameters("id", "order_id", "event_slug", "ticket_type", "created_ms"))
)


@dataclass(frozen=True)
class Checkout:
    database: Database
    catalogue: Catalogue
    changes: StatusChanges
    pushes: PushSender
    unpaid_caps: UnpaidCaps = field(default_factory=UnpaidCaps)

    async def place(self, request: CheckoutRequest, client: str | None = None) -> PushResult:
        """Store the order (`pending`), send the STK push, and return the order after it:
        `processing` when PayHero took it or its answer was lost (`outcome` says which).

        Raises CheckoutInvalid when the seats are gone, TooManyUnpaidSeats when this phone,
        client address (`client`) or e-mail already holds its share of unpaid seats (nothing
        is stored then), PushFailed when PayHero says no.
        """
        holder = client_key(client) if client else None
        found = self.catalogue.find(request.event, request.ticket_type)
        assert found is not None, "validated before"
        event, ticket = found
        async with self.database.transaction():
            # The inventory UPDATE first: on SQLite it takes the write lock for the whole
            # transaction at once, so concurrent checkouts queue instead of deadlocking.
            if not await reserve(self.database, event.slug, ticket.slug, request.quantity):
                raise CheckoutInvalid({"quantity": "not enough tickets of this type are left"})
            customer_id = await self._upsert_customer(request)
            order = await self.changes.create(
                {
                    "customer_id": customer_id,
                    "event_slug": event.slug,
                    "ticket_type": ticket.slug,
                    "quantity": request.quantity,
                    "amount": ticket.price * request.quantity,
                    "currency": ticket.currency,
                    # The order keeps who placed it: e-mails greet them, pushes go to them.
                    "first_name": request.first_name,
                    "last_name": request.last_name,
                    "phone": request.phone,
                    "language": request.language,
                    "client_key": holder,
                }
            )
            await check_unpaid(
                self.database, self.unpaid_caps, phone=request.phone, client=holder, email=request.email
            )
            stamp = now_ms()
            for _ in range(request.quantity):
                await self.database.execute(
                    INSERT_TICKET.bind(
                        id=random_id(12),
                        order_id=order.order_id,
                        event_slug=event.slug,
                        ticket_type=ticket.slug,
                        created_ms=stamp,
                    )
                )
        document = order.document
        number = document["order_number"]
        log.info(
            "order created order=%s number=%s %dx %s/%s amount=%d phone=%s",
            order.order_id,
            number,
            request.quantity,
            event.slug,
            ticket.slug,
            document["amount"],
            mask_phone(request.phone),
        )
        to_pay = OrderToPay(order.order_id, number, document["amount"])
        name = f"{request.first_name} {request.last_name}"
        result = await self.pushes.push(to_pay, 1, request.phone, name)
        if result.outcome == REFUSED:
            raise PushFailed(result.update, result.reason or "PayHero refused the payment request")
        return result

    async def _upsert_customer(self, request: CheckoutRequest) -> str:
        customer_id = await self.database.fetch_val(
            UPSERT_CUSTOMER.bind(
                id=secrets.token_hex(12),
                email=request.email,
                first_name=request.first_name,
                last_name=request.last_name,
                phone=request.phone,
                created_ms=now_ms(),
            )
        )
        return str(customer_id)
