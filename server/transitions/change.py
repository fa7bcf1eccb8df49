"""What one status change is, what it did, and what each step of its pipeline is handed.

A leaf of the write side: the steps (seats, ticket codes, outbox rows) and the pipeline that
lists them import these names, and `changes.py`, which applies a change, imports the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from server.lifecycle import ALLOWED_FROM
from server.status.document import DocumentTicket, StatusUpdate
from server.store import Database, LaterColumn
from server.store.rows import OrderRow, PayerRow, TicketRow


class ChangeFields(TypedDict, total=False):
    """The columns a change may set besides the status itself, each as `OrderRow` types it."""

    result_code: int | None
    result_desc: str | None
    receipt_number: str | None
    payhero_reference: str | None
    checkout_request_id: str | None
    needs_review: str | None
    pushes: int
    prompt_expires_ms: int


# Checked at run time too: the tests and the command line build changes mypy never sees.
SETTABLE = ChangeFields.__optional_keys__


class NewOrder(TypedDict, total=False):
    """The columns of a new order its creator chooses (`StatusChanges.create`); the id, number,
    status, version and times are the store's. Only `amount` has no default."""

    id: str
    order_number: str
    customer_id: str
    event_slug: str
    ticket_type: str
    quantity: int
    amount: int
    currency: str
    first_name: str
    last_name: str
    phone: str
    language: str
    client_key: str | None


class OrderNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ActedBy:
    """A person's action that a change carries out (the desk's Complete or Close, the command
    line's complete-order): its `desk_actions` row commits with the change, or neither does."""

    action: str
    actor: str
    note: str | None = None
    receipt: str | None = None
    # The order's `needs_review` the action settles (the review queue leaves it out after).
    resolves: str | None = None


@dataclass(frozen=True)
class FromCallback:
    """The stored PayHero callback a change applies (`payhero_callbacks.id`): marked `applied`
    in the change's transaction (`callback_rows.py`), and the change's status noted as what
    PayHero said of `push_id` where one is given (a failure's is noted before, on matching)."""

    inbox_id: int
    push_id: int | None = None
    receipt_number: str | None = None


@dataclass(frozen=True)
class Change:
    to_status: str
    source: str
    fields: ChangeFields = field(default_factory=lambda: ChangeFields())
    note: str | None = None
    acted_by: ActedBy | None = None
    from_callback: FromCallback | None = None

    def __post_init__(self) -> None:
        if self.to_status not in ALLOWED_FROM:
            raise ValueError(f"no transition into {self.to_status!r}")
        unknown = set(self.fields) - SETTABLE
        if unknown:
            raise ValueError(f"a change cannot set {sorted(unknown)}")


@dataclass(frozen=True)
class ChangeResult:
    applied: bool
    update: StatusUpdate
    previous_status: str | None


@dataclass(slots=True)
class ChangeInProgress:
    """What each in-transaction step is handed: the change, inside its transaction.

    `order` is the row as the conditional UPDATE returned it. A step that signs tickets
    leaves them in `signed_tickets` (as a status document lists them), so the outbox step and
    the published document take them from here instead of reading them back: two round trips
    fewer per payment.
    """

    database: Database
    order: OrderRow
    previous: str | None
    change: Change
    # On a payment, its customer, returned by the same UPDATE (the outbox step's recipient).
    payer: PayerRow | None = None
    # On a payment, its unsigned tickets, listed by the same UPDATE (the tickets step signs
    # them); None where they must be read (one was signed already).
    order_tickets: list[TicketRow] | None = None
    signed_tickets: list[DocumentTicket] | None = None
    # What the steps did, for the change's one log line once it commits (changes.py): not a
    # line of each step's own, which would also be written for a change that rolls back.
    tickets_issued: int = 0
    emails_queued: list[str] | None = None
    # The statements the steps keep for later (`Database.fetch_column_later`), read by their
    # `confirm` once sent: on PostgreSQL the receipt's claim, the tickets' codes and the
    # e-mails' outbox rows go in one round trip.
    receipt_claim: LaterColumn | None = None
    codes_written: list[LaterColumn] = field(default_factory=list)
    letters: list[str] = field(default_factory=list)
    letters_added: LaterColumn | None = None
    # Set on the second run of a change whose kept ticket codes missed (a short code held):
    # the tickets are signed one at a time then, each read back before the next.
    careful: bool = False
