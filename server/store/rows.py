"""Typed rows: what a query of the store hands the rest of the service, instead of a dict.

Each row is a `@dataclass(slots=True)` whose fields are its table's columns, in the table's
order, so a misspelt column is a mypy error rather than a `KeyError` at run time, and a row
costs a slotted object, not a dict. `from_mapping` builds one from a result row (the
driver's own, results.py) through the tuple of column names computed once here, read
by one `operator.itemgetter`: no per-field introspection or Python loop when a row is built
(bench/row_cost.py measures it).

Not frozen: a frozen dataclass's `__init__` goes through `object.__setattr__` per field,
about twice the cost, and the ticket step fills in a ticket's code on its own row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Any, ClassVar, Self, TypeVar

from server.store.results import ResultRow


class _Row:
    """What every row shares: its column names and the one way to build it from a result."""

    __slots__ = ()
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    # The columns' values of a mapping as a tuple, in C: half the cost of a loop over names.
    _values: ClassVar[itemgetter[Any]]
    # The same by position, per list of a result's column names (`_from_sqlite`).
    _by_position: ClassVar[dict[tuple[str, ...], itemgetter[Any]]]

    @classmethod
    def from_mapping(cls, row: ResultRow | Mapping[str, object]) -> Self:
        """The row of a query's result (or a mapping) that has at least every one of `COLUMNS`."""
        if type(row) is sqlite3.Row:
            return cls._from_sqlite(row)
        return cls(*cls._values(row))

    @classmethod
    def _from_sqlite(cls, row: sqlite3.Row) -> Self:
        # A `sqlite3.Row` finds a name by comparing it with each column's in turn: 25 names
        # looked up in a 25-column row cost ~3.4 µs, against ~1 µs for these positions,
        # found once per statement's columns (an order is read three times a payment).
        names = tuple(row.keys())
        by_position = cls._by_position.get(names)
        if by_position is None:
            # As the row itself finds a name: the first column of that name, in any case.
            index: dict[str, int] = {}
            for position, name in enumerate(names):
                index.setdefault(name.lower(), position)
            if any(column not in index for column in cls.COLUMNS):
                return cls(*cls._values(row))  # raises for the missing column, as before
            by_position = itemgetter(*(index[column] for column in cls.COLUMNS))
            if len(cls._by_position) < _SHAPES_KEPT:
                cls._by_position[names] = by_position
        return cls(*by_position(row))


_R = TypeVar("_R", bound=type[_Row])
# Statement shapes whose column positions a row class keeps: the service has a few dozen.
_SHAPES_KEPT = 256


def _columns(cls: _R) -> _R:
    # Once per row class, at import: the field names, in the order `__init__` takes them.
    cls.COLUMNS = tuple(field.name for field in fields(cls))  # type: ignore[arg-type]
    # More than one name, so the getter always returns a tuple.
    assert len(cls.COLUMNS) > 1
    cls._values = itemgetter(*cls.COLUMNS)
    cls._by_position = {}
    return cls


@_columns
@dataclass(slots=True)
class OrderRow(_Row):
    """An `orders` row: one checkout, its status and what its payment said."""

    id: str
    order_number: str
    customer_id: str | None
    event_slug: str | None
    ticket_type: str | None
    quantity: int
    amount: int
    currency: str
    payment_status: str
    version: int
    result_code: int | None
    result_desc: str | None
    receipt_number: str | None
    payhero_reference: str | None
    checkout_request_id: str | None
    needs_review: str | None
    created_ms: int
    updated_ms: int
    first_name: str | None
    last_name: str | None
    phone: str | None
    pushes: int
    prompt_expires_ms: int | None
    language: str | None
    client_key: str | None


@_columns
@dataclass(slots=True)
class TicketRow(_Row):
    """A `tickets` row: one seat of an order, with its signed code once the order is paid."""

    id: str
    order_id: str
    event_slug: str
    ticket_type: str
    code: str | None
    checked_in_ms: int | None
    created_ms: int
    short_code: str | None
    checked_in_gate: str | None


@_columns
@dataclass(slots=True)
class SignedTicketRow(_Row):
    """The columns of a ticket a status document lists (`status.SIGNED_COLUMNS`): only ever
    read with `code IS NOT NULL`, so its code is known."""

    id: str
    order_id: str
    ticket_type: str
    code: str
    short_code: str | None


@_columns
@dataclass(slots=True)
class PayerRow(_Row):
    """Who a payment's e-mails go to, as the completing UPDATE returns them beside the order
    (`transitions/outbox_rows.py`): the customer's address and name, and whether they paid
    for another order before (the welcome e-mail's condition). None of them without a customer."""

    customer_email: str | None
    customer_first_name: str | None
    customer_paid_before: bool | None


@_columns
@dataclass(slots=True)
class OutboxRow(_Row):
    """An `outbox` row: one e-mail to send, its payload as JSON text, its retries and lease."""

    id: int
    key: str
    kind: str
    order_id: str | None
    recipient: str
    payload: str
    created_ms: int
    next_attempt_ms: int
    attempts: int
    last_error: str | None
    locked_until_ms: int | None
    claim: str | None
    sent_ms: int | None


@_columns
@dataclass(slots=True)
class PushRow(_Row):
    """A `payment_pushes` row: one STK push of an order, written before it is sent."""

    id: int
    order_id: str
    attempt: int
    sent_ms: int
    outcome: str
    payhero_reference: str | None
    checkout_request_id: str | None
    error: str | None
    answered_ms: int | None
    result: str | None
    receipt_number: str | None


@_columns
@dataclass(slots=True)
class CallbackRow(_Row):
    """A `payhero_callbacks` row: a callback body exactly as received, and what it did."""

    id: int
    received_ms: int
    body: bytes
    order_id: str | None
    outcome: str | None
    processed_ms: int | None
    replay_of: int | None
