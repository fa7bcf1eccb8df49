"""Writing the e-mails an order's payment causes, in the transaction of that payment.

`OutboxWriter` is a transition hook (DESIGN rule 6): the rows commit with `completed` or
not at all, so a crash can neither lose an e-mail of a paid order nor send one for an
order that never got paid. Each row has a unique key, and `ON CONFLICT DO NOTHING` makes
a second write of the same e-mail (a replay, a re-run hook, two first orders of the same
customer at once) a no-op rather than a second e-mail or an aborted transaction.

Rows carry what the templates need as JSON; rendering (and the QR images) happens later
in the delivery worker, off the webhook's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from server.catalogue import Catalogue
from server.clock import iso_from_ms, now_ms
from server.json_text import compact_json
from server.languages import known_language
from server.lifecycle import COMPLETED
from server.mail.kinds import RECEIPT, TICKETS, WELCOME, LetterFields, LetterTicket, TicketsLetter
from server.status.signed_tickets import load_tickets
from server.store import Database, LaterColumn
from server.store.database import is_postgres
from server.store.prepared import Prepared, parameters
from server.store.rows import OrderRow
from server.store.tables import outbox
from server.transitions.change import ChangeInProgress

_OUTBOX_VALUES = parameters(
    "key", "kind", "order_id", "recipient", "payload", "created_ms", "next_attempt_ms"
)


def _enqueue_statement(insert: Any, rows: int | None = None) -> Prepared:
    """Outbox rows written in one statement, returning the keys of those added (not already
    there); with `rows` None, one row returning its id."""
    if rows is None:
        values: Any = {"attempts": 0, **_OUTBOX_VALUES}
    else:
        values = [
            {"attempts": 0, **{name: sa.bindparam(f"{name}_{row}") for name in _OUTBOX_VALUES}}
            for row in range(rows)
        ]
    return Prepared(
        insert(outbox)
        .values(values)
        .on_conflict_do_nothing(index_elements=[outbox.c.key])
        .returning(outbox.c.id if rows is None else outbox.c.key)
    )


# `ON CONFLICT DO NOTHING` is spelled by each dialect's own insert.
ENQUEUE_POSTGRES = _enqueue_statement(postgresql.insert)
ENQUEUE_SQLITE = _enqueue_statement(sqlite.insert)
# A payment's e-mails in one statement, not one each, returning the keys added.
ENQUEUE_MANY = {
    (dialect, rows): _enqueue_statement(insert, rows)
    for dialect, insert in (("postgres", postgresql.insert), ("sqlite", sqlite.insert))
    for rows in (1, 2, 3)
}
# The completing UPDATE's own RETURNING carries the payment's customer (transitions/changes.py),
# one round trip fewer per payment than a SELECT of the customer after it; `PayerRow` names
# them. Whether the customer paid for another order before decides the welcome e-mail.
# Written out, qualified: SQLAlchemy's SQLite compiler drops the table names in a RETURNING
# list, which would turn `other_order.id != orders.id` into `id != id`.
PAYER_COLUMNS: tuple[sa.Label[object], ...] = (
    sa.literal_column(
        "(SELECT customers.email FROM customers WHERE customers.id = orders.customer_id)"
    ).label("customer_email"),
    sa.literal_column(
        "(SELECT customers.first_name FROM customers WHERE customers.id = orders.customer_id)"
    ).label("customer_first_name"),
    sa.literal_column(
        "EXISTS (SELECT 1 FROM orders AS other_order"
        " WHERE other_order.customer_id = orders.customer_id"
        f" AND other_order.payment_status = '{COMPLETED}' AND other_order.id != orders.id)"
    ).label("customer_paid_before"),
)


async def enqueue(
    database: Database,
    *,
    key: str,
    kind: str,
    order_id: str | None,
    recipient: str,
    payload: Mapping[str, object],
) -> bool:
    """Add one e-mail to the outbox unless one with `key` is there already; True if added."""
    stamp = now_ms()
    statement = (ENQUEUE_POSTGRES if is_postgres(database) else ENQUEUE_SQLITE).bind(
        key=key,
        kind=kind,
        order_id=order_id,
        recipient=recipient,
        payload=compact_json(payload),
        created_ms=stamp,
        next_attempt_ms=stamp,
    )
    return await database.fetch_val(statement) is not None


async def enqueue_many(
    database: Database, *, order_id: str, recipient: str, letters: list[tuple[str, str, LetterFields]]
) -> LaterColumn:
    """`enqueue` each of `letters` (key, kind, payload) in one statement, kept for later
    (`Database.fetch_column_later`): the keys added, once sent."""
    stamp = now_ms()
    values: dict[str, str | int] = {}
    for row, (key, kind, payload) in enumerate(letters):
        values |= {
            f"key_{row}": key,
            f"kind_{row}": kind,
            f"order_id_{row}": order_id,
            f"recipient_{row}": recipient,
            f"payload_{row}": compact_json(payload),
            f"created_ms_{row}": stamp,
            f"next_attempt_ms_{row}": stamp,
        }
    dialect = "postgres" if is_postgres(database) else "sqlite"
    return await database.fetch_column_later(ENQUEUE_MANY[dialect, len(letters)].bind(**values))


@dataclass(frozen=True)
class OutboxWriter:
    catalogue: Catalogue

    async def __call__(self, step: ChangeInProgress) -> None:
        database, order, payer = step.database, step.order, step.payer
        # Only a payment sends mail: cancelled, failed and expired orders get none.
        customer_id = order.customer_id
        if step.change.to_status != COMPLETED or not customer_id:
            return
        if payer is None or payer.customer_email is None:
            return  # no such customer
        order_id = order.id
        # The name typed with this order, not whatever a later checkout with the same
        # address typed (orders before migration 4 have none: the customer's, then).
        common = self._common(order, order.first_name or payer.customer_first_name or "")
        letters: list[tuple[str, str, LetterFields]] = []
        if not payer.customer_paid_before:
            # Keyed by customer, not order: two first orders paid at once still welcome once.
            letters.append((f"customer:{customer_id}:welcome", WELCOME, common))
        listed: list[LetterTicket] = [
            {
                "ticket_id": t["ticket_id"],
                "ticket_type": t["ticket_type"],
                "code": t["code"],
                "short_code": t["short_code"],
            }
            for t in (
                step.signed_tickets
                if step.signed_tickets is not None
                else (await load_tickets(database, [order_id])).get(order_id, [])
            )
        ]
        if listed:
            with_tickets: TicketsLetter = {**common, "tickets": listed}
            letters.append((f"order:{order_id}:tickets", TICKETS, with_tickets))
        letters.append((f"order:{order_id}:receipt", RECEIPT, common))
        recipient = payer.customer_email
        step.letters = [key for key, _, _ in letters]
        step.letters_added = await enqueue_many(
            database, order_id=order_id, recipient=recipient, letters=letters
        )

    def confirm(self, step: ChangeInProgress) -> None:
        """Once the kept statements are sent: which e-mails were new, for the change's log."""
        if step.letters_added is not None:
            added = set(step.letters_added.values)
            # In the letters' order, for the change's log line.
            step.emails_queued = [key.rsplit(":", 1)[-1] for key in step.letters if key in added]

    def _common(self, order: OrderRow, first_name: str) -> LetterFields:
        return letter_fields(self.catalogue, order, first_name)


def letter_fields(catalogue: Catalogue, order: OrderRow, first_name: str) -> LetterFields:
    """What every e-mail of a paid order says about it (also the desk's tickets sent again)."""
    found = catalogue.find(order.event_slug or "", order.ticket_type or "")
    event, ticket_type = found if found is not None else (None, None)
    return {
        "order_id": order.id,
        "order_number": order.order_number,
        "first_name": first_name,
        "event_name": event.name if event else (order.event_slug or "your event"),
        "event_starts_at": event.starts_at if event else "",
        "event_timezone": event.timezone if event else "",
        "venue": event.venue if event else "",
        "ticket_type_name": ticket_type.name if ticket_type else (order.ticket_type or ""),
        "quantity": order.quantity,
        "amount": order.amount,
        "currency": order.currency,
        "receipt_number": order.receipt_number or "",
        "paid_at": iso_from_ms(order.updated_ms),
        # The e-mails are written in the language the order was placed in.
        "language": known_language(order.language),
    }
