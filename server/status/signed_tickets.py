"""An order's signed tickets as its status document lists them: the read side of tickets.

Only signed tickets are listed, so none before the order is `completed`; the signing is the
write side's (`transitions/ticket_codes.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from databases import Database

from server.store.prepared import Prepared
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


async def load_tickets(database: Database, order_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The `tickets` of status documents: only signed ones, so never before `completed`."""
    if len(order_ids) == 1:
        rows = await database.fetch_all(SIGNED_TICKETS_OF_ORDER.bind(order_id=order_ids[0]))
    else:
        rows = await database.fetch_all(
            sa.select(*SIGNED_COLUMNS)
            .where(tickets.c.order_id.in_(list(order_ids)), tickets.c.code.is_not(None))
            .order_by(*SIGNED_ORDER)
        )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        ticket = row._mapping
        found.setdefault(ticket["order_id"], []).append(document_ticket(ticket))
    return found


def document_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A signed `tickets` row as a status document lists it."""
    return {
        "ticket_id": ticket["id"],
        "ticket_type": ticket["ticket_type"],
        "code": ticket["code"],
        "short_code": grouped(ticket["short_code"]) if ticket["short_code"] else None,
        "qr_url": qr_url(ticket["id"]),
        # The ticket's own link and card: no personal data in them (DESIGN rule 7).
        "share_url": ticket_page_url(share_id(ticket["id"], ticket["code"])),
        "card_url": ticket_card_url(share_id(ticket["id"], ticket["code"])),
    }
