"""An order's signed tickets as its status document lists them: the read side of tickets.

Only signed tickets are listed, so none before the order is `completed`; the signing is the
write side's (`transitions/ticket_codes.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from server.status.document import DocumentTicket
from server.store import Database
from server.store.prepared import Prepared
from server.store.rows import SignedTicketRow
from server.store.tables import tickets
from server.tickets.share_links import share_id
from server.tickets.short_codes import grouped
from server.urls import qr_url, ticket_card_url, ticket_page_url

SIGNED_COLUMNS = (
    tickets.c.id,
    tickets.c.order_id,
    tickets.c.ticket_type,
    tickets.c.code,
    tickets.c.short_code,
)
SIGNED_ORDER = (tickets.c.order_id, tickets.c.created_ms, tickets.c.id)

# One order's signed tickets: what a status document of a just-paid order needs.
SIGNED_TICKETS_OF_ORDER = Prepared(
    sa.select(*SIGNED_COLUMNS)
    .where(tickets.c.order_id == sa.bindparam("order_id"), tickets.c.code.is_not(None))
    .order_by(*SIGNED_ORDER)
)


async def load_tickets(database: Database, order_ids: Sequence[str]) -> dict[str, list[DocumentTicket]]:
    """The `tickets` of status documents: only signed ones, so never before `completed`."""
    if len(order_ids) == 1:
        rows = await database.fetch_all(SIGNED_TICKETS_OF_ORDER.bind(order_id=order_ids[0]))
    else:
        rows = await database.fetch_all(
            sa.select(*SIGNED_COLUMNS)
            .where(tickets.c.order_id.in_(list(order_ids)), tickets.c.code.is_not(None))
            .order_by(*SIGNED_ORDER)
        )
    found: dict[str, list[DocumentTicket]] = {}
    for row in rows:
        ticket = SignedTicketRow.from_mapping(row)
        found.setdefault(ticket.order_id, []).append(document_ticket(ticket))
    return found


def document_ticket(ticket: SignedTicketRow) -> DocumentTicket:
    """A signed `tickets` row as a status document lists it."""
    ticket_id, code, short = ticket.id, ticket.code, ticket.short_code
    return {
        "ticket_id": ticket_id,
        "ticket_type": ticket.ticket_type,
        "code": code,
        "short_code": grouped(short) if short else None,
        "qr_url": qr_url(ticket_id),
        # The ticket's own link and card: no personal data in them (DESIGN rule 7).
        "share_url": ticket_page_url(share_id(ticket_id, code)),
        "card_url": ticket_card_url(share_id(ticket_id, code)),
    }
