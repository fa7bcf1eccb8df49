"""Giving an order's tickets their signed codes when it is paid, and showing them after.

`TicketIssuer` is a transition hook: it runs inside the transaction that makes the order
`completed`, so the codes commit with the status and the published status document
already carries them. A duplicate callback never reaches it (the status UPDATE matches
once), and `code IS NULL` in its own UPDATE makes even a second run change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from server.status.changes import Change
from server.status.document import COMPLETED
from server.store.tables import tickets
from server.tickets.codes import TicketSigner

log = logging.getLogger("server.tickets")


def qr_url(ticket_id: str) -> str:
    return f"/api/tickets/{ticket_id}/qr.png"


@dataclass(frozen=True)
class TicketIssuer:
    signer: TicketSigner

    async def __call__(
        self, database: Database, order: Mapping[str, Any], previous: str | None, change: Change
    ) -> None:
        if change.to_status != COMPLETED:
            return
        rows = await database.fetch_all(
            sa.select(tickets.c.id, tickets.c.event_slug, tickets.c.ticket_type).where(
                tickets.c.order_id == order["id"], tickets.c.code.is_(None)
            )
        )
        for row in rows:
            ticket = row._mapping
            code = self.signer.sign(ticket["id"], ticket["event_slug"], ticket["ticket_type"])
            await database.execute(
                tickets.update()
                .where(tickets.c.id == ticket["id"], tickets.c.code.is_(None))
                .values(code=code)
            )
        if rows:
            log.info("tickets issued order=%s count=%d", order["id"], len(rows))


async def load_tickets(database: Database, order_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The `tickets` of status documents: only signed ones, so never before `completed`."""
    rows = await database.fetch_all(
        sa.select(tickets.c.id, tickets.c.order_id, tickets.c.ticket_type, tickets.c.code)
        .where(tickets.c.order_id.in_(list(order_ids)), tickets.c.code.is_not(None))
        .order_by(tickets.c.order_id, tickets.c.created_ms, tickets.c.id)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        ticket = row._mapping
        found.setdefault(ticket["order_id"], []).append(
            {
                "ticket_id": ticket["id"],
                "ticket_type": ticket["ticket_type"],
                "code": ticket["code"],
                "qr_url": qr_url(ticket["id"]),
            }
        )
    return found
