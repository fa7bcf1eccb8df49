"""What the gate asks of a scanned code: is it genuine, for what, and is it already used.

Every way a code can be wrong (malformed, unknown ticket, not yet paid, bad signature)
gives the same `NotGenuine`, so a prober learns nothing about which part was wrong. The
answers carry the event and ticket type, never who bought the ticket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from server.catalogue import Catalogue
from server.clock import iso_from_ms, now_ms
from server.store.tables import tickets
from server.tickets.codes import TicketSigner, parse_code

log = logging.getLogger("server.tickets")


class NotGenuine(Exception):
    """The code is not a paid ticket signed by this service."""


class AlreadyCheckedIn(Exception):
    def __init__(self, check: TicketCheck) -> None:
        super().__init__(check.ticket_id)
        self.check = check


@dataclass(frozen=True)
class TicketCheck:
    ticket_id: str
    event_slug: str
    event_name: str
    ticket_type: str
    ticket_type_name: str
    checked_in_ms: int | None

    def body(self) -> dict[str, Any]:
        return {
            "genuine": True,
            "ticket_id": self.ticket_id,
            "event": {"slug": self.event_slug, "name": self.event_name},
            "ticket_type": {"slug": self.ticket_type, "name": self.ticket_type_name},
            "checked_in": self.checked_in_ms is not None,
            "checked_in_at": iso_from_ms(self.checked_in_ms) if self.checked_in_ms is not None else None,
        }


@dataclass(frozen=True)
class Gate:
    database: Database
    signer: TicketSigner
    catalogue: Catalogue

    async def verify(self, code: str) -> TicketCheck:
        parsed = parse_code(code.strip())
        if parsed is None:
            raise NotGenuine()
        row = await self.database.fetch_one(
            sa.select(
                tickets.c.event_slug, tickets.c.ticket_type, tickets.c.code, tickets.c.checked_in_ms
            ).where(tickets.c.id == parsed.ticket_id)
        )
        # `code` stays empty until the order is paid: an unpaid ticket is no ticket yet.
        if row is None or row._mapping["code"] is None:
            raise NotGenuine()
        ticket = row._mapping
        if not self.signer.verify(parsed, ticket["event_slug"], ticket["ticket_type"]):
            log.warning("ticket code with a bad signature for ticket=%s", parsed.ticket_id)
            raise NotGenuine()
        return self._check(
            parsed.ticket_id, ticket["event_slug"], ticket["ticket_type"], ticket["checked_in_ms"]
        )

    async def check_in(self, code: str) -> TicketCheck:
        """Mark the ticket as used, once: a second scan raises AlreadyCheckedIn."""
        check = await self.verify(code)
        stamp = now_ms()
        # Conditional: of two gates scanning the same ticket at once, exactly one wins.
        marked = await self.database.fetch_val(
            tickets.update()
            .where(tickets.c.id == check.ticket_id, tickets.c.checked_in_ms.is_(None))
            .values(checked_in_ms=stamp)
            .returning(tickets.c.checked_in_ms)
        )
        if marked is None:
            raise AlreadyCheckedIn(await self.verify(code))
        log.info("ticket checked in ticket=%s event=%s", check.ticket_id, check.event_slug)
        return self._check(check.ticket_id, check.event_slug, check.ticket_type, int(marked))

    def _check(
        self, ticket_id: str, event_slug: str, ticket_type: str, checked_in_ms: int | None
    ) -> TicketCheck:
        event = self.catalogue.events.get(event_slug)
        kind = event.ticket_types.get(ticket_type) if event is not None else None
        return TicketCheck(
            ticket_id=ticket_id,
            event_slug=event_slug,
            event_name=event.name if event is not None else event_slug,
            ticket_type=ticket_type,
            ticket_type_name=kind.name if kind is not None else ticket_type,
            checked_in_ms=checked_in_ms,
        )
