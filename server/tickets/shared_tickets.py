"""One ticket found by its own link (`/ticket/{share_id}`): what its page and card show.

The ticket only: its event, type, number in the order, the holder's first name, its codes.
Never the order's id, number, amount, phone, e-mail or receipt. Only a signed ticket (its
order paid) has a link; a link whose mark does not match is the same "not found" as an
unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

import sqlalchemy as sa

from server.catalogue import Catalogue, Event
from server.languages import moment_words
from server.store import Database
from server.store.prepared import Prepared
from server.store.tables import customers, orders, tickets
from server.tickets.share_links import mark_matches, split_share_id
from server.tickets.short_codes import grouped
from server.tickets.ticket_card import CardText


@dataclass(frozen=True)
class SharedTicket:
    ticket_id: str
    code: str
    short_code: str | None
    event: Event | None
    event_slug: str
    ticket_type: str
    ticket_type_name: str
    number: int  # 1-based, in the order's own order of tickets
    count: int
    first_name: str

    @property
    def file_name(self) -> str:
        """`demo-fest-2026-early-bird-1.png`: the event's name, the type and the number."""
        event = self.event.name if self.event else self.event_slug
        return f"{_slug(event)}-{_slug(self.ticket_type)}-{self.number}.png"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "ticket"


_TICKET = Prepared(
    sa.select(
        tickets.c.id,
        tickets.c.order_id,
        tickets.c.code,
        tickets.c.short_code,
        tickets.c.event_slug,
        tickets.c.ticket_type,
        sa.func.coalesce(orders.c.first_name, customers.c.first_name).label("first_name"),
    )
    .select_from(tickets.join(orders, tickets.c.order_id == orders.c.id).outerjoin(customers))
    .where(tickets.c.id == sa.bindparam("ticket_id"), tickets.c.code.is_not(None))
)
_ORDER_TICKETS = Prepared(
    sa.select(tickets.c.id)
    .where(tickets.c.order_id == sa.bindparam("order_id"), tickets.c.code.is_not(None))
    .order_by(tickets.c.created_ms, tickets.c.id)
)


async def find_shared_ticket(database: Database, catalogue: Catalogue, value: str) -> SharedTicket | None:
    """The paid ticket a share link names, if its mark fits the ticket's signed code; else None."""
    parts = split_share_id(value)
    if parts is None:
        return None
    ticket_id, mark = parts
    found = await database.fetch_one(_TICKET.bind(ticket_id=ticket_id))
    if found is None or not mark_matches(found["code"], mark):
        return None
    rows = await database.fetch_all(_ORDER_TICKETS.bind(order_id=found["order_id"]))
    siblings = [r["id"] for r in rows]
    listed = catalogue.find(found["event_slug"], found["ticket_type"])
    event, ticket_type = listed if listed is not None else (None, None)
    return SharedTicket(
        ticket_id=found["id"],
        code=found["code"],
        short_code=grouped(found["short_code"]) if found["short_code"] else None,
        event=event,
        event_slug=found["event_slug"],
        ticket_type=found["ticket_type"],
        ticket_type_name=ticket_type.name if ticket_type else found["ticket_type"],
        number=siblings.index(found["id"]) + 1 if found["id"] in siblings else 1,
        count=max(1, len(siblings)),
        first_name=found["first_name"] or "",
    )


def card_text(ticket: SharedTicket, words: Mapping[str, str]) -> CardText:
    """The card's words in one language (`words`: a catalogue of server/templates/words/)."""
    event = ticket.event
    when = moment_words(event.starts_at, event.timezone, words) if event else ""
    number = Template(words["card_number"]).substitute(number=ticket.number, count=ticket.count)
    return CardText(
        event_name=event.name if event else ticket.event_slug,
        when=when,
        venue=event.venue if event else "",
        ticket_line=f"{ticket.ticket_type_name} · {number}" if ticket.count > 1 else ticket.ticket_type_name,
        holder_label=words["card_holder"],
        holder=ticket.first_name,
        gate_code_label=words["gate_code"],
        short_code=ticket.short_code or "",
        show_note=words["card_show"],
    )
