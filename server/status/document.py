"""The status document: the one shape every status route, SSE event and broker message uses.

It carries no personal data (API.md): anyone holding an order id may read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, cast

from server.clock import iso_from_ms
from server.json_text import compact_json, parse_own_json
from server.lifecycle import COMPLETED, TERMINAL
from server.store.rows import OrderRow

DOCUMENT_FIELDS = (
    "order_id",
    "order_number",
    "payment_status",
    "amount",
    "currency",
    "version",
    "updated_at",
    "result_code",
    "result_desc",
    "receipt_number",
    "tickets",
    "prompt_expires_at",
    "pushes",
)


class DocumentTicket(TypedDict):
    """A signed ticket as its order's documents and e-mails carry it (JSON: stays a dict)."""

    ticket_id: str
    ticket_type: str
    code: str
    short_code: str | None
    qr_url: str
    share_url: str
    card_url: str


class ListedTicket(DocumentTicket):
    """A ticket as the status document lists it: with its ticket type's name."""

    ticket_type_name: str


class StatusDocument(TypedDict):
    """The status document's JSON (API.md): what every status route, event and message sends."""

    order_id: str
    order_number: str
    payment_status: str
    amount: int
    currency: str
    version: int
    updated_at: str
    result_code: int | None
    result_desc: str | None
    receipt_number: str | None
    tickets: list[ListedTicket]
    event: Mapping[str, str] | None
    prompt_expires_at: str | None
    pushes: int


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status document with its JSON encoded once, however many waiters receive it.

    Every held `/wait` and open stream keeps one (the status it read), so only the JSON
    and the three fields the hub and the routes look at are kept; the document itself is
    decoded again when someone asks for it, which is rare (a checkout's answer, a log
    line). Keeping the dict as well cost about 0.7 KB per waiter (bench.memory_profile).
    """

    json: str
    order_id: str
    version: int
    payment_status: str

    @property
    def document(self) -> StatusDocument:
        # Written by `status_document` (or checked by `from_json`): its shape is known.
        return cast(StatusDocument, parse_own_json(self.json))

    @property
    def terminal(self) -> bool:
        return self.payment_status in TERMINAL

    def json_with(self, **extra: str) -> str:
        """The encoded document with `extra` fields added to the text, not by decoding and
        encoding it again (6.4 µs against 16.8 for a checkout's answer, bench.schema_cost)."""
        if not extra:
            return self.json
        return f"{self.json[:-1]},{compact_json(extra)[1:]}"

    @classmethod
    def from_document(cls, document: StatusDocument) -> StatusUpdate:
        return cls(
            compact_json(document),
            str(document["order_id"]),
            int(document["version"]),
            str(document["payment_status"]),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> StatusUpdate:
        document = parse_own_json(raw)
        if not isinstance(document, dict) or not all(k in document for k in DOCUMENT_FIELDS):
            raise ValueError("not a status document")
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return cls(text, str(document["order_id"]), int(document["version"]), str(document["payment_status"]))


class EventFacts(Protocol):
    """What a document says about the order's event (the catalogue's `Event`)."""

    @property
    def summary(self) -> Mapping[str, str]: ...

    def ticket_type_name(self, slug: str) -> str: ...


def status_document(
    order: OrderRow, tickets: Sequence[DocumentTicket] = (), event: EventFacts | None = None
) -> StatusDocument:
    """Build the public document from an `orders` row (and its tickets once completed).

    `event` is the order's event from the catalogue; `null` in the document when the
    catalogue no longer lists it. Its facts are public: no buyer is named anywhere.
    """
    status = order.payment_status
    completed = status == COMPLETED
    prompt_ends = order.prompt_expires_ms
    return {
        "order_id": order.id,
        "order_number": order.order_number,
        "payment_status": status,
        "amount": order.amount,
        "currency": order.currency,
        "version": order.version,
        "updated_at": iso_from_ms(order.updated_ms),
        "result_code": order.result_code,
        "result_desc": order.result_desc,
        "receipt_number": order.receipt_number if completed else None,
        "tickets": [_ticket(ticket, event) for ticket in tickets] if completed else [],
        "event": event.summary if event is not None else None,
        # When the latest STK prompt's window ends: the page offers "send again" after it.
        "prompt_expires_at": (
            iso_from_ms(prompt_ends) if prompt_ends is not None and status not in TERMINAL else None
        ),
        "pushes": order.pushes or 0,
    }


def _ticket(ticket: DocumentTicket, event: EventFacts | None) -> ListedTicket:
    slug = ticket["ticket_type"]
    return {**ticket, "ticket_type_name": event.ticket_type_name(slug) if event is not None else slug}
