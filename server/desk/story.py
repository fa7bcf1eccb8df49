"""Finding an order, and its whole story on one screen: every status change, STK push,
callback (as received, with what it did), e-mail, ticket and desk action, oldest first."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from server.catalogue import Catalogue
from server.clock import iso_from_ms
from server.desk.reasons import reason_in_words
from server.json_types import JSONObject, JSONValue
from server.store import Database
from server.store.rows import CallbackRow, OutboxRow, PushRow, TicketRow
from server.store.tables import (
    customers,
    desk_actions,
    order_changes,
    orders,
    outbox,
    payhero_callbacks,
    payment_pushes,
    tickets,
)

SEARCH_LIMIT = 50
MIN_PHONE_DIGITS = 3


def _at(ms: int | None) -> str | None:
    return iso_from_ms(ms) if ms is not None else None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One order as a search result or a review queue entry lists it."""

    order_id: str
    order_number: str
    name: str
    email: str | None
    phone: str | None
    event: str
    ticket_type: str
    quantity: int
    amount: int
    currency: str
    payment_status: str
    needs_review: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class StatusChangeLine:
    at: str
    version: int
    from_status: str | None
    to_status: str
    source: str
    note: str | None


@dataclass(frozen=True, slots=True)
class PushLine:
    attempt: int
    sent_at: str
    outcome: str
    payhero_reference: str | None
    checkout_request_id: str | None
    error: str | None
    answered_at: str | None
    result: str | None
    receipt_number: str | None


@dataclass(frozen=True, slots=True)
class CallbackLine:
    id: int
    received_at: str
    # As received: the bytes PayHero sent, as text (invalid UTF-8 replaced, never dropped).
    body: str
    outcome: str | None
    processed_at: str | None
    replay_of: int | None


@dataclass(frozen=True, slots=True)
class EmailLine:
    kind: str
    recipient: str
    queued_at: str
    sent_at: str | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TicketLine:
    ticket_id: str
    ticket_type: str
    code: str | None
    checked_in_at: str | None
    # The door's name as its device gave it; None if it named none (or before gates were recorded).
    gate: str | None


@dataclass(frozen=True, slots=True)
class ActionLine:
    at: str
    action: str
    actor: str
    note: str | None
    receipt_number: str | None
    # What the action kept (PayHero's answers, an outbox key) as stored; its text if not JSON.
    evidence: JSONValue


@dataclass(frozen=True, slots=True)
class OrderStory:
    order: OrderLine
    review_reason: str | None
    review_open: bool
    changes: list[StatusChangeLine]
    pushes: list[PushLine]
    callbacks: list[CallbackLine]
    emails: list[EmailLine]
    tickets: list[TicketLine]
    actions: list[ActionLine]

    def body(self) -> JSONObject:
        """As the desk's answer sends it: these fields, by these names (asdict)."""
        return asdict(self)


ORDER_COLUMNS = (*orders.c, customers.c.email)


def order_select() -> Any:
    return sa.select(*ORDER_COLUMNS).select_from(
        orders.outerjoin(customers, customers.c.id == orders.c.customer_id)
    )


def order_line(m: Any, catalogue: Catalogue) -> OrderLine:
    event = catalogue.events.get(m["event_slug"] or "")
    return OrderLine(
        order_id=m["id"],
        order_number=m["order_number"],
        name=" ".join(part for part in (m["first_name"], m["last_name"]) if part),
        email=m["email"],
        phone=m["phone"],
        event=event.name if event is not None else (m["event_slug"] or ""),
        ticket_type=event.ticket_type_name(m["ticket_type"] or "")
        if event is not None
        else (m["ticket_type"] or ""),
        quantity=m["quantity"],
        amount=m["amount"],
        currency=m["currency"],
        payment_status=m["payment_status"],
        needs_review=m["needs_review"],
        created_at=iso_from_ms(m["created_ms"]),
    )


def _search_filter(query: str) -> Any | None:
    """An order number or id, an e-mail address, or the last digits of a phone."""
    text = query.strip()
    if not text:
        return None
    if "@" in text:
        return sa.func.lower(customers.c.email) == text.lower()
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and len(digits) == len(text.replace(" ", "").replace("+", "")):
        if len(digits) < MIN_PHONE_DIGITS:
            return None
        # The last digits, the same on both databases (no LIKE: the SQLite backend %-formats).
        tail = sa.func.substr(orders.c.phone, sa.func.length(orders.c.phone) - len(digits) + 1)
        return tail == digits
    number = text.upper()
    if not number.startswith("ORD-") and len(number) == 6:
        number = "ORD-" + number
    return (orders.c.order_number == number) | (orders.c.id == text)


async def search_orders(database: Database, catalogue: Catalogue, query: str) -> list[OrderLine] | None:
    """Orders matching `query`, newest first; None when the query can match nothing."""
    condition = _search_filter(query)
    if condition is None:
        return None
    rows = await database.fetch_all(
        order_select().where(condition).order_by(orders.c.created_ms.desc()).limit(SEARCH_LIMIT)
    )
    return [order_line(row, catalogue) for row in rows]


async def resolved_reviews(database: Database, order_id: str) -> set[str]:
    rows = await database.fetch_all(
        sa.select(desk_actions.c.resolves).where(
            desk_actions.c.order_id == order_id, desk_actions.c.resolves.is_not(None)
        )
    )
    return {row["resolves"] for row in rows}


def _evidence(text: str | None) -> JSONValue:
    if text is None:
        return None
    try:
        parsed: JSONValue = json.loads(text)
    except ValueError:
        return text
    return parsed


async def read_story(database: Database, catalogue: Catalogue, order_id: str) -> OrderStory | None:
    """An order's whole story (changes, pushes, callbacks, e-mails, tickets, actions); None if unknown."""
    row = await database.fetch_one(order_select().where(orders.c.id == order_id))
    if row is None:
        return None
    line = order_line(row, catalogue)
    by_order = order_id

    changes = await database.fetch_all(
        sa.select(order_changes).where(order_changes.c.order_id == by_order).order_by(order_changes.c.version)
    )
    pushes = await database.fetch_all(
        sa.select(payment_pushes)
        .where(payment_pushes.c.order_id == by_order)
        .order_by(payment_pushes.c.attempt)
    )
    callbacks = await database.fetch_all(
        sa.select(payhero_callbacks)
        .where(payhero_callbacks.c.order_id == by_order)
        .order_by(payhero_callbacks.c.id)
    )
    emails = await database.fetch_all(
        sa.select(outbox).where(outbox.c.order_id == by_order).order_by(outbox.c.id)
    )
    issued = await database.fetch_all(
        sa.select(tickets).where(tickets.c.order_id == by_order).order_by(tickets.c.created_ms, tickets.c.id)
    )
    actions = await database.fetch_all(
        sa.select(desk_actions).where(desk_actions.c.order_id == by_order).order_by(desk_actions.c.id)
    )
    resolved = {a["resolves"] for a in actions if a["resolves"]}
    review = line.needs_review
    return OrderStory(
        order=line,
        review_reason=reason_in_words(review) if review else None,
        review_open=bool(review) and review not in resolved,
        changes=[
            StatusChangeLine(
                iso_from_ms(m["created_ms"]),
                m["version"],
                m["from_status"],
                m["to_status"],
                m["source"],
                m["note"],
            )
            for m in changes
        ],
        pushes=[
            PushLine(
                p.attempt,
                iso_from_ms(p.sent_ms),
                p.outcome,
                p.payhero_reference,
                p.checkout_request_id,
                p.error,
                _at(p.answered_ms),
                p.result,
                p.receipt_number,
            )
            for p in (PushRow.from_mapping(r) for r in pushes)
        ],
        callbacks=[callback_line(CallbackRow.from_mapping(r)) for r in callbacks],
        emails=[
            EmailLine(
                e.kind, e.recipient, iso_from_ms(e.created_ms), _at(e.sent_ms), e.attempts, e.last_error
            )
            for e in (OutboxRow.from_mapping(r) for r in emails)
        ],
        tickets=[
            TicketLine(t.id, t.ticket_type, t.code, _at(t.checked_in_ms), t.checked_in_gate)
            for t in (TicketRow.from_mapping(r) for r in issued)
        ],
        actions=[
            ActionLine(
                iso_from_ms(m["created_ms"]),
                m["action"],
                m["actor"],
                m["note"],
                m["receipt_number"],
                _evidence(m["evidence"]),
            )
            for m in actions
        ],
    )


def callback_line(callback: CallbackRow) -> CallbackLine:
    return CallbackLine(
        callback.id,
        iso_from_ms(callback.received_ms),
        bytes(callback.body).decode("utf-8", errors="replace"),
        callback.outcome,
        _at(callback.processed_ms),
        callback.replay_of,
    )
