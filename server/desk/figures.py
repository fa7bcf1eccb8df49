"""The desk's figures, read from the store each time a bell rings (the store is the truth).

Sales per event and ticket type: tickets paid for, tickets being paid for (the order placed,
the prompt on the phone), seats left, revenue, tickets paid in the last hour. The door: per
ticket type, tickets issued and checked in, and the check-ins per gate (the name the gate's
device gave, `tickets.checked_in_gate`), per ticket type and for the whole event. A check-in
with no gate named, or made before gates were recorded, counts under the gate `None`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import now_ms
from server.json_types import JSONObject
from server.lifecycle import COMPLETED, PENDING, PROCESSING
from server.store import Database
from server.store.tables import orders, ticket_inventory, tickets

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class TicketTypeSales:
    slug: str
    name: str
    capacity: int
    sold: int
    processing: int
    seats_left: int
    revenue: int
    paid_last_hour: int


@dataclass(frozen=True, slots=True)
class EventSales:
    slug: str
    name: str
    currency: str
    ticket_types: list[TicketTypeSales]

    def body(self) -> JSONObject:
        """As the desk's answers send it: these fields, by these names (asdict)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GateCount:
    # None: a device that named no gate, or a check-in from before gates were recorded.
    gate: str | None
    checked_in: int


@dataclass(frozen=True, slots=True)
class TicketTypeDoor:
    slug: str
    name: str
    issued: int
    checked_in: int
    gates: list[GateCount]


@dataclass(frozen=True, slots=True)
class EventDoor:
    slug: str
    name: str
    ticket_types: list[TicketTypeDoor]
    # The whole event's check-ins per gate, all ticket types together.
    gates: list[GateCount]

    def body(self) -> JSONObject:
        """As the desk's answers send it: these fields, by these names (asdict)."""
        return asdict(self)


def _sales_query(since_ms: int) -> Any:
    recent = sa.case((orders.c.updated_ms >= since_ms, orders.c.quantity), else_=0)
    return (
        sa.select(
            orders.c.event_slug,
            orders.c.ticket_type,
            orders.c.payment_status,
            sa.func.sum(orders.c.quantity).label("quantity"),
            sa.func.sum(orders.c.amount).label("amount"),
            sa.func.sum(recent).label("recent"),
        )
        .where(orders.c.payment_status.in_([PENDING, PROCESSING, COMPLETED]))
        .group_by(orders.c.event_slug, orders.c.ticket_type, orders.c.payment_status)
    )


async def read_sales(database: Database, catalogue: Catalogue) -> list[EventSales]:
    """Sold, being paid, seats left, revenue and paid in the last hour, per event and type, now."""
    totals: dict[tuple[str, str, str], tuple[int, int, int]] = {}
    for m in await database.fetch_all(_sales_query(now_ms() - HOUR_MS)):
        totals[(m["event_slug"], m["ticket_type"], m["payment_status"])] = (
            int(m["quantity"] or 0),
            int(m["amount"] or 0),
            int(m["recent"] or 0),
        )
    taken = {
        (m["event_slug"], m["ticket_type"]): (int(m["capacity"]), int(m["sold"]))
        for m in await database.fetch_all(sa.select(ticket_inventory))
    }
    found = []
    for event in catalogue.events.values():
        types = []
        currency = "KES"
        for kind in event.ticket_types.values():
            currency = kind.currency
            paid = totals.get((event.slug, kind.slug, COMPLETED), (0, 0, 0))
            pending = totals.get((event.slug, kind.slug, PENDING), (0, 0, 0))
            processing = totals.get((event.slug, kind.slug, PROCESSING), (0, 0, 0))
            capacity, reserved = taken.get((event.slug, kind.slug), (kind.capacity, 0))
            types.append(
                TicketTypeSales(
                    slug=kind.slug,
                    name=kind.name,
                    capacity=capacity,
                    sold=paid[0],
                    processing=pending[0] + processing[0],
                    seats_left=max(0, capacity - reserved),
                    revenue=paid[1],
                    paid_last_hour=paid[2],
                )
            )
        found.append(EventSales(event.slug, event.name, currency, types))
    return found


DOOR_QUERY = (
    sa.select(
        tickets.c.event_slug,
        tickets.c.ticket_type,
        sa.func.count(tickets.c.code).label("issued"),
        sa.func.count(tickets.c.checked_in_ms).label("checked_in"),
    )
    .where(tickets.c.code.is_not(None))
    .group_by(tickets.c.event_slug, tickets.c.ticket_type)
)

GATES_QUERY = (
    sa.select(
        tickets.c.event_slug,
        tickets.c.ticket_type,
        tickets.c.checked_in_gate,
        sa.func.count().label("checked_in"),
    )
    .where(tickets.c.code.is_not(None), tickets.c.checked_in_ms.is_not(None))
    .group_by(tickets.c.event_slug, tickets.c.ticket_type, tickets.c.checked_in_gate)
)


def _in_order(counts: dict[str | None, int]) -> list[GateCount]:
    # Named gates by name, the unnamed one last: the same order on every re-read.
    return [GateCount(gate, counts[gate]) for gate in sorted(counts, key=lambda g: (g is None, g or ""))]


async def read_door(database: Database, catalogue: Catalogue) -> list[EventDoor]:
    """Tickets issued and checked in per event, ticket type and gate, read from the store now."""
    counts = {
        (m["event_slug"], m["ticket_type"]): (int(m["issued"]), int(m["checked_in"]))
        for m in await database.fetch_all(DOOR_QUERY)
    }
    per_type: dict[tuple[str, str], dict[str | None, int]] = {}
    per_event: dict[str, dict[str | None, int]] = {}
    for m in await database.fetch_all(GATES_QUERY):
        gate, number = m["checked_in_gate"], int(m["checked_in"])
        per_type.setdefault((m["event_slug"], m["ticket_type"]), {})[gate] = number
        event_gates = per_event.setdefault(m["event_slug"], {})
        event_gates[gate] = event_gates.get(gate, 0) + number
    return [
        EventDoor(
            event.slug,
            event.name,
            [
                TicketTypeDoor(
                    kind.slug,
                    kind.name,
                    *counts.get((event.slug, kind.slug), (0, 0)),
                    gates=_in_order(per_type.get((event.slug, kind.slug), {})),
                )
                for kind in event.ticket_types.values()
            ],
            gates=_in_order(per_event.get(event.slug, {})),
        )
        for event in catalogue.events.values()
    ]
