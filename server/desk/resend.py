"""Send a paid order's tickets again, to its e-mail: a new outbox row with its own key.

The payment's own tickets e-mail is keyed `order:{id}:tickets`, written once; a copy sent
again gets `order:{id}:tickets:again:{random}`, so each request is one more e-mail, and the
outbox worker delivers it as any other (at least once, de-duplicated by that key).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.desk.reviews import RESEND_TICKETS, record_action
from server.lifecycle import COMPLETED
from server.mail.kinds import TICKETS, LetterTicket, TicketsLetter
from server.status.signed_tickets import load_tickets
from server.store import Database
from server.store.rows import OrderRow
from server.store.tables import customers, orders
from server.transitions.outbox_rows import enqueue, letter_fields


@dataclass(frozen=True)
class Resent:
    key: str | None
    recipient: str | None
    # Why nothing was queued; None when it was.
    error: str | None = None


async def resend_tickets(
    database: Database, catalogue: Catalogue, order_id: str, actor: str
) -> Resent | None:
    """Queue the tickets e-mail again; None when there is no such order."""
    found = await database.fetch_one(
        sa.select(*orders.c, customers.c.email, customers.c.first_name.label("customer_first_name"))
        .select_from(orders.outerjoin(customers, customers.c.id == orders.c.customer_id))
        .where(orders.c.id == order_id)
    )
    if found is None:
        return None
    order, email = OrderRow.from_mapping(found), found["email"]
    if order.payment_status != COMPLETED:
        return Resent(None, None, "only a paid order has tickets to send")
    listed = (await load_tickets(database, [order_id])).get(order_id, [])
    if not listed or not email:
        return Resent(None, None, "this order has no tickets or no e-mail address")
    tickets: list[LetterTicket] = [
        {"ticket_id": t["ticket_id"], "ticket_type": t["ticket_type"], "code": t["code"]} for t in listed
    ]
    payload: TicketsLetter = {
        **letter_fields(catalogue, order, order.first_name or found["customer_first_name"]),
        "tickets": tickets,
    }
    key = f"order:{order_id}:tickets:again:{secrets.token_hex(6)}"
    async with database.transaction():
        await enqueue(database, key=key, kind=TICKETS, order_id=order_id, recipient=email, payload=payload)
        await record_action(database, order_id, RESEND_TICKETS, actor, evidence={"outbox_key": key})
    return Resent(key, email)
