"""The e-mails the service sends, by kind: the outbox rows' `kind` and the templates' names."""

from __future__ import annotations

from typing import NotRequired, TypedDict

# Caused by a payment.
WELCOME = "welcome"
TICKETS = "tickets"
RECEIPT = "receipt"
# Asked for on "Lost your tickets?": a link to each paid order's ticket page.
LOST_TICKETS = "lost_tickets"
KINDS = (WELCOME, TICKETS, RECEIPT, LOST_TICKETS)


class LetterFields(TypedDict):
    """What every e-mail of a paid order says about it: the outbox row's JSON payload as written.

    The composer reads payloads as plain mappings (`.get` with defaults): rows written by
    older releases lack some of these fields."""

    order_id: str
    order_number: str
    first_name: str
    event_name: str
    event_starts_at: str
    event_timezone: str
    venue: str
    ticket_type_name: str
    quantity: int
    amount: int
    currency: str
    receipt_number: str
    paid_at: str
    language: str


class LetterTicket(TypedDict):
    """A ticket as the tickets e-mail lists it (its QR is drawn from `code` when sent)."""

    ticket_id: str
    ticket_type: str
    code: str
    # Left out of a copy sent again from the desk; the composer falls back to `code`.
    short_code: NotRequired[str | None]


class TicketsLetter(LetterFields):
    """The tickets e-mail's payload: the order's fields and its tickets."""

    tickets: list[LetterTicket]


class LostOrderItem(TypedDict):
    order_id: str
    order_number: str
    event_name: str
    event_starts_at: str
    event_timezone: str
    ticket_type_name: str
    quantity: int


class LostTicketsLetter(TypedDict):
    """The "Lost your tickets?" e-mail's outbox payload: one item per paid order."""

    language: str
    first_name: str
    orders: list[LostOrderItem]
