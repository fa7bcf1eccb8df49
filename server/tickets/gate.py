"""What the gate asks of a scanned or typed code: is it genuine, for what, is it already used,
and is the event still on.

Every way a code can be wrong (malformed, unknown ticket, not yet paid, bad signature, a
short code nobody holds) gives the same `NotGenuine`, so a prober learns nothing about
which part was wrong. The answers carry the event, the ticket type, the door and how many
of the order are in, never who bought the ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

import sqlalchemy as sa

from server.catalogue import Catalogue, Event
from server.clock import iso_from_ms, now_ms
from server.store import Database
from server.store.rows import TicketRow
from server.store.tables import tickets
from server.tickets.codes import TicketSigner
from server.tickets.typed_codes import read_typed_code

log = logging.getLogger("server.tickets")


class NotGenuine(Exception):
    """The code is not a paid ticket signed by this service."""


class AlreadyCheckedIn(Exception):
    def __init__(self, check: TicketCheck) -> None:
        super().__init__(check.ticket_id)
        self.check = check


class EventOver(Exception):
    """The ticket is genuine, but its event ended (plus the grace) before this check-in."""

    def __init__(self, check: TicketCheck) -> None:
        super().__init__(check.ticket_id)
        self.check = check


class NamedEvent(TypedDict):
    slug: str
    name: str
    timezone: str
    starts_at: str
    ends_at: str | None


class NamedType(TypedDict):
    slug: str
    name: str


class OrderAdmitted(TypedDict):
    admitted: int
    tickets: int


class TicketCheckBody(TypedDict):
    """A genuine ticket as the gate's verify and check-in answer it (docs/API.md)."""

    genuine: bool
    ticket_id: str
    event: NamedEvent
    ticket_type: NamedType
    checked_in: bool
    checked_in_at: str | None
    checked_in_gate: str | None
    order: OrderAdmitted
    event_over: bool


class GateEventBody(TypedDict):
    """An event as the gate page gets it when its session opens (docs/API.md)."""

    slug: str
    name: str
    timezone: str
    starts_at: str
    ends_at: str | None
    closes_at: str | None
    over: bool


@dataclass(frozen=True)
class TicketCheck:
    ticket_id: str
    event_slug: str
    event_name: str
    event_timezone: str
    event_starts_at: str
    event_ends_at: str
    ticket_type: str
    ticket_type_name: str
    checked_in_ms: int | None
    checked_in_gate: str | None
    # How many of the ticket's order are in (this one included once checked in), of how many.
    order_admitted: int
    order_tickets: int
    event_over: bool

    def body(self) -> TicketCheckBody:
        return {
            "genuine": True,
            "ticket_id": self.ticket_id,
            "event": {
                "slug": self.event_slug,
                "name": self.event_name,
                "timezone": self.event_timezone,
                "starts_at": self.event_starts_at,
                "ends_at": self.event_ends_at or None,
            },
            "ticket_type": {"slug": self.ticket_type, "name": self.ticket_type_name},
            "checked_in": self.checked_in_ms is not None,
            "checked_in_at": iso_from_ms(self.checked_in_ms) if self.checked_in_ms is not None else None,
            "checked_in_gate": self.checked_in_gate,
            "order": {"admitted": self.order_admitted, "tickets": self.order_tickets},
            "event_over": self.event_over,
        }


def event_closes_ms(event: Event | None, grace_seconds: float) -> int | None:
    """When the gate stops admitting to `event`: its end plus the grace; None without an end."""
    if event is None or not event.ends_at:
        return None
    ends = datetime.fromisoformat(event.ends_at)
    return int(ends.timestamp() * 1000 + grace_seconds * 1000)


@dataclass(frozen=True)
class GateEvent:
    """An event as the gate page shows it when it opens: its clock, and whether it is over."""

    slug: str
    name: str
    timezone: str
    starts_at: str
    ends_at: str
    closes_ms: int | None
    over: bool

    def body(self) -> GateEventBody:
        return {
            "slug": self.slug,
            "name": self.name,
            "timezone": self.timezone,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at or None,
            "closes_at": iso_from_ms(self.closes_ms) if self.closes_ms is not None else None,
            "over": self.over,
        }


@dataclass(frozen=True)
class Gate:
    database: Database
    signer: TicketSigner
    catalogue: Catalogue
    # Past an event's `ends_at` by this long, its tickets are refused (GATE_GRACE_AFTER_END).
    grace_after_end: float = 3600.0
    clock: Callable[[], int] = field(default=now_ms)

    def events(self) -> list[GateEvent]:
        now = self.clock()
        found = []
        for event in self.catalogue.events.values():
            closes = event_closes_ms(event, self.grace_after_end)
            found.append(
                GateEvent(
                    slug=event.slug,
                    name=event.name,
                    timezone=event.timezone,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    closes_ms=closes,
                    over=closes is not None and now > closes,
                )
            )
        return found

    async def _row(self, code: str, *, allow_short: bool = True) -> TicketRow:
        typed = read_typed_code(code)
        if typed is None or (typed.short is not None and not allow_short):
            raise NotGenuine()
        if typed.long is not None:
            where = tickets.c.id == typed.long.ticket_id
        else:
            where = tickets.c.short_code == typed.short
        row = await self.database.fetch_one(tickets.select().where(where))
        ticket = None if row is None else TicketRow.from_mapping(row)
        # `code` stays empty until the order is paid: an unpaid ticket is no ticket yet.
        if ticket is None or ticket.code is None:
            raise NotGenuine()
        # A short code is only ever stored beside a signed code: the row found is the proof.
        if typed.long is not None and not self.signer.verify(
            typed.long, ticket.event_slug, ticket.ticket_type
        ):
            log.warning("ticket code with a bad signature for ticket=%s", typed.long.ticket_id)
            raise NotGenuine()
        return ticket

    async def verify(self, code: str, *, allow_short: bool = True) -> TicketCheck:
        """`allow_short=False`: only the long code counts (a public verify: short codes
        are worth guessing, so only gate staff may try them)."""
        return await self._check(await self._row(code, allow_short=allow_short))

    async def check_in(
        self, code: str, gate_name: str | None = None, *, scanned_ms: int | None = None
    ) -> TicketCheck:
        """Mark the ticket as used, once: a second scan raises AlreadyCheckedIn (with the
        first door's name), a scan after the event raises EventOver. `scanned_ms`: when an
        offline gate scanned it (recorded as the check-in's time, and judged against the
        event's end), for a check-in sent later from its queue."""
        ticket = await self._row(code)
        check = await self._check(ticket)
        if check.checked_in_ms is not None:
            raise AlreadyCheckedIn(check)
        at = scanned_ms if scanned_ms is not None else self.clock()
        closes = event_closes_ms(self.catalogue.events.get(ticket.event_slug), self.grace_after_end)
        if closes is not None and at > closes:
            raise EventOver(check)
        # Conditional: of two doors scanning the same ticket at once, exactly one wins.
        marked = await self.database.fetch_val(
            tickets.update()
            .where(tickets.c.id == ticket.id, tickets.c.checked_in_ms.is_(None))
            .values(checked_in_ms=at, checked_in_gate=gate_name)
            .returning(tickets.c.checked_in_ms)
        )
        after = await self._check(await self._row(code))
        if marked is None:
            raise AlreadyCheckedIn(after)
        log.info("ticket checked in ticket=%s event=%s", ticket.id, ticket.event_slug)
        return after

    async def _check(self, ticket: TicketRow) -> TicketCheck:
        counts = await self.database.fetch_one(
            sa.select(sa.func.count(), sa.func.count(tickets.c.checked_in_ms)).where(
                tickets.c.order_id == ticket.order_id, tickets.c.code.is_not(None)
            )
        )
        order_tickets, order_admitted = (int(counts[0]), int(counts[1])) if counts is not None else (1, 0)
        event = self.catalogue.events.get(ticket.event_slug)
        kind = event.ticket_types.get(ticket.ticket_type) if event is not None else None
        closes = event_closes_ms(event, self.grace_after_end)
        return TicketCheck(
            ticket_id=ticket.id,
            event_slug=ticket.event_slug,
            event_name=event.name if event is not None else ticket.event_slug,
            event_timezone=event.timezone if event is not None else "UTC",
            event_starts_at=event.starts_at if event is not None else "",
            event_ends_at=event.ends_at if event is not None else "",
            ticket_type=ticket.ticket_type,
            ticket_type_name=kind.name if kind is not None else ticket.ticket_type,
            checked_in_ms=ticket.checked_in_ms,
            checked_in_gate=ticket.checked_in_gate,
            order_admitted=order_admitted,
            order_tickets=order_tickets,
            event_over=closes is not None and self.clock() > closes,
        )
