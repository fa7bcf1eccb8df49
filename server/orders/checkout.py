"""Placing an order: store customer, order and tickets in one transaction, then the STK push."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

from server.catalogue import Catalogue
from server.logs import mask_phone
from server.orders.seats import reserve
from server.orders.validation import CheckoutInvalid, CheckoutRequest
from server.payhero.client import PayHeroClient, PaymentProviderError
from server.status.changes import Change, StatusChanges
from server.status.document import FAILED, PROCESSING, StatusUpdate, now_ms
from server.store.database import is_postgres
from server.store.tables import customers, tickets

log = logging.getLogger("server.orders")


class PushFailed(Exception):
    """The order is stored as failed because PayHero did not take the STK push."""

    def __init__(self, update: StatusUpdate, reason: str) -> None:
        super().__init__(reason)
        self.update = update
        self.reason = reason


@dataclass(frozen=True)
class Checkout:
    database: Database
    catalogue: Catalogue
    changes: StatusChanges
    payhero: PayHeroClient
    callback_url: str

    async def place(self, request: CheckoutRequest) -> StatusUpdate:
        """Store the order (`pending`), ask PayHero for the push, and return `processing`.

        Raises CheckoutInvalid when the seats are gone, PushFailed when PayHero says no.
        """
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
                }
            )
            stamp = now_ms()
            await self.database.execute_many(
                tickets.insert(),
                [
                    {
                        "id": secrets.token_urlsafe(12),
                        "order_id": order.order_id,
                        "event_slug": event.slug,
                        "ticket_type": ticket.slug,
                        "created_ms": stamp,
                    }
                    for _ in range(request.quantity)
                ],
            )
        number = str(order.document["order_number"])
        log.info(
            "order created order=%s number=%s %dx %s/%s amount=%d phone=%s",
            order.order_id,
            number,
            request.quantity,
            event.slug,
            ticket.slug,
            order.document["amount"],
            mask_phone(request.phone),
        )
        try:
            accepted = await self.payhero.initiate_stk_push(
                amount=int(order.document["amount"]),
                phone_number=request.phone,
                external_reference=number,
                customer_name=f"{request.first_name} {request.last_name}",
                callback_url=self.callback_url,
            )
        except PaymentProviderError as exc:
            log.warning("stk push refused order=%s: %s", order.order_id, exc.reason)
            failed = await self.changes.apply(
                order.order_id, Change(FAILED, source="stk-push", fields={"result_desc": exc.reason[:255]})
            )
            raise PushFailed(failed.update, exc.reason) from exc
        log.info(
            "stk push sent order=%s reference=%s checkout=%s",
            order.order_id,
            accepted.reference,
            accepted.checkout_request_id,
        )
        result = await self.changes.apply(
            order.order_id,
            Change(
                PROCESSING,
                source="stk-push",
                fields={
                    "payhero_reference": accepted.reference,
                    "checkout_request_id": accepted.checkout_request_id,
                },
            ),
        )
        return result.update

    async def _upsert_customer(self, request: CheckoutRequest) -> str:
        values = {
            "id": secrets.token_hex(12),
            "email": request.email,
            "first_name": request.first_name,
            "last_name": request.last_name,
            "phone": request.phone,
            "created_ms": now_ms(),
        }
        dialect_insert = postgresql.insert if is_postgres(self.database) else sqlite.insert
        insert = dialect_insert(customers).values(**values)
        upsert = insert.on_conflict_do_update(
            index_elements=[customers.c.email],
            set_={
                "first_name": insert.excluded.first_name,
                "last_name": insert.excluded.last_name,
                "phone": insert.excluded.phone,
            },
        ).returning(customers.c.id)
        customer_id = await self.database.fetch_val(upsert)
        return str(customer_id)
