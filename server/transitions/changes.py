"""The one way an order's status changes: commit (bumping `version`), then what follows.

Every transition goes through `StatusChanges.apply`. The state rules of DESIGN rule 5 live
in `ALLOWED_FROM`: the conditional UPDATE only matches an order in an allowed state, so
duplicate or concurrent deliveries change it once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

import sqlalchemy as sa

from server.clock import now_ms
from server.lifecycle import ALLOWED_FROM, COMPLETED, PENDING
from server.status.document import StatusUpdate
from server.status.reader import OrderReader
from server.store import Database, Query
from server.store.failures import StoreConflict
from server.store.ids import random_id
from server.store.prepared import Prepared, SQLValue, parameters
from server.store.rows import OrderRow, PayerRow
from server.store.tables import order_changes, orders
from server.transitions.change import Change, ChangeInProgress, ChangeResult, NewOrder, OrderNotFound
from server.transitions.outbox_rows import PAYER_COLUMNS
from server.transitions.pipeline import Pipeline
from server.transitions.ticket_codes import ORDER_TICKET_LIST, SigningMissed, listed_tickets

log = logging.getLogger("server.status")

# 30 random bits per number: collisions are rare, not impossible, so a few draws are allowed.
ORDER_NUMBER_ATTEMPTS = 5

ORDER_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


# The status a change came from, returned by its own UPDATE: the history row of the version
# before (the order's row holds only the new one). Qualified by hand: SQLAlchemy's SQLite
# compiler drops table names in a RETURNING list, which would make it `version = version - 1`.
PREVIOUS_STATUS: sa.Label[object] = sa.literal_column(
    "(SELECT order_changes.to_status FROM order_changes"
    " WHERE order_changes.order_id = orders.id AND order_changes.version = orders.version - 1)"
).label("previous_status")
# The same, read alone: where the UPDATE waited on a change committed meanwhile, PostgreSQL
# evaluates its RETURNING in the snapshot the UPDATE began with, which lacks that change's
# history row (NULL). A statement of its own sees it.
HISTORY_STATUS = Prepared(
    sa.select(order_changes.c.to_status).where(
        order_changes.c.order_id == sa.bindparam("order_id"),
        order_changes.c.version == sa.bindparam("version"),
    )
)
# The history row of a change. Nobody in the change's transaction reads it, and its key
# (order, version) is the one the UPDATE just took under the row's lock: it may wait for the
# next statement (`execute_later`), one round trip fewer per change on PostgreSQL.
RECORD_CHANGE = Prepared(
    order_changes.insert().values(
        **parameters("order_id", "version", "from_status", "to_status", "source", "note", "created_ms")
    )
)


# What a payment's UPDATE returns besides the order: its customer and its tickets.
PAYMENT_COLUMNS: tuple[sa.Label[Any], ...] = (*PAYER_COLUMNS, ORDER_TICKET_LIST)


# The first history row of a new order: version 1, from nothing.
FIRST_CHANGE = Prepared(
    order_changes.insert().values(
        version=1, from_status=None, **parameters("order_id", "to_status", "source", "created_ms")
    )
)


@functools.cache
def _insert_order(columns: tuple[str, ...]) -> Prepared:
    """The INSERT of a new order giving `columns`: one per shape (a checkout's is always the
    same), built once, where building it per order cost SQLAlchemy's coercions and cache key."""
    return Prepared(orders.insert().values(parameters(*columns)))


@functools.cache
def transition(to_status: str, field_names: tuple[str, ...]) -> Prepared:
    """The conditional UPDATE into `to_status` setting `field_names`: one per shape, built once.
    It returns the status it came from (`previous_status`); a payment's also returns its
    customer (`PayerRow`), whom the outbox step writes to, and its tickets, which the tickets
    step signs."""
    return Prepared(
        orders.update()
        .where(
            orders.c.id == sa.bindparam("order_id"),
            # OR of equalities, not IN: SQLAlchemy renders an IN list per execution.
            sa.or_(*(orders.c.payment_status == status for status in sorted(ALLOWED_FROM[to_status]))),
        )
        .values(
            payment_status=to_status,
            version=orders.c.version + 1,
            updated_ms=sa.bindparam("updated_ms"),
            **parameters(*field_names),
        )
        .returning(*orders.c, PREVIOUS_STATUS, *(PAYMENT_COLUMNS if to_status == COMPLETED else ()))
    )


def new_order_id() -> str:
    # 144 random bits, URL-safe: unguessable (DESIGN rule 7).
    return random_id(18)


def new_order_number() -> str:
    return "ORD-" + "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(6))


class StatusChanges:
    """The write core: applies one status change if the lifecycle allows it, with the
    pipeline's steps in its transaction and after its commit."""

    def __init__(self, database: Database, reader: OrderReader, pipeline: Pipeline) -> None:
        self.database = database
        self.reader = reader
        self.pipeline = pipeline

    async def apply(self, order_id: str, change: Change) -> ChangeResult:
        """Apply `change` if the rules allow it; either way return the order's status."""
        stamp = now_ms()
        statement = transition(change.to_status, tuple(sorted(change.fields))).bind(
            order_id=order_id, updated_ms=stamp, **change.fields
        )
        try:
            in_progress = await self._in_transaction(order_id, change, statement, stamp)
        except (SigningMissed, StoreConflict) as missed:
            if change.to_status != COMPLETED:
                raise
            # The tickets' codes, written with the first short code each, missed: a short
            # code another ticket holds (a conflict, where two went in one statement). Rolled
            # back whole; once more, one ticket at a time.
            # The error's name only: a conflict's text would name the short code, which admits.
            log.warning(
                "ticket codes missed order=%s (%s); signing again one at a time",
                order_id,
                type(missed).__name__,
            )
            in_progress = await self._in_transaction(order_id, change, statement, stamp, careful=True)
        if in_progress is None:
            current = await self.reader.get(order_id)
            if current is None:
                raise OrderNotFound(order_id)
            log.info(
                "status unchanged order=%s status=%s wanted=%s source=%s",
                order_id,
                current.payment_status,
                change.to_status,
                change.source,
            )
            return ChangeResult(False, current, current.payment_status)
        updated, previous = in_progress.order, in_progress.previous
        known = {order_id: in_progress.signed_tickets} if in_progress.signed_tickets is not None else None
        update = (await self.reader.documents([updated], known_tickets=known))[0]
        _log_change(order_id, previous, change, update.version, in_progress)
        result = ChangeResult(True, update, previous)
        await self.pipeline.after_commit(result)
        return result

    async def _in_transaction(
        self, order_id: str, change: Change, statement: Query, stamp: int, *, careful: bool = False
    ) -> ChangeInProgress | None:
        """The change's transaction: the conditional UPDATE, its history row and the
        pipeline's steps; None where the rules did not allow the change."""
        async with self.database.transaction():
            # The UPDATE comes first so a SQLite transaction takes the write lock at once
            # (waiting on the busy timeout) instead of failing to upgrade a read later.
            row = await self.database.fetch_one(statement)
            if row is None:
                return None
            updated = OrderRow.from_mapping(row)
            previous = row["previous_status"]
            if previous is None:
                previous = await self.database.fetch_val(
                    HISTORY_STATUS.bind(order_id=order_id, version=updated.version - 1)
                )
            await self.database.execute_later(
                RECORD_CHANGE.bind(
                    order_id=order_id,
                    version=updated.version,
                    from_status=previous,
                    to_status=change.to_status,
                    source=change.source,
                    note=change.note,
                    created_ms=stamp,
                )
            )
            in_progress = ChangeInProgress(self.database, updated, previous, change, careful=careful)
            if change.to_status == COMPLETED:
                in_progress.payer = PayerRow.from_mapping(row)
                in_progress.order_tickets = listed_tickets(row["order_tickets"], order_id)
            await self.pipeline.in_transaction(in_progress)
        return in_progress

    async def create(self, values: NewOrder, *, source: str = "checkout") -> StatusUpdate:
        """Store a new order at version 1 (`pending`) with a fresh id and order number.

        Call inside the caller's transaction when other rows must commit with it.
        """
        stamp = now_ms()
        order_id = values.get("id") or new_order_id()
        for attempt in range(1, ORDER_NUMBER_ATTEMPTS + 1):
            row: dict[str, SQLValue] = {
                "currency": "KES",
                "quantity": 1,
                **values,  # type: ignore[dict-item]  # a TypedDict of column values
                "id": order_id,
                "order_number": values.get("order_number") or new_order_number(),
                "payment_status": PENDING,
                "version": 1,
                "created_ms": stamp,
                "updated_ms": stamp,
            }
            try:
                # Nested inside a caller's transaction this is a savepoint, so a collision
                # rolls back only this insert and the next number can be tried.
                async with self.database.transaction():
                    await self.database.execute(_insert_order(tuple(row)).bind(**row))
                    await self.database.execute(
                        FIRST_CHANGE.bind(
                            order_id=order_id, to_status=PENDING, source=source, created_ms=stamp
                        )
                    )
            except StoreConflict:
                if "order_number" in values or attempt == ORDER_NUMBER_ATTEMPTS:
                    raise
                log.warning("order number %s already taken; drawing another", row["order_number"])
                continue
            break
        return await self._document(order_id)

    async def _document(self, order_id: str) -> StatusUpdate:
        update = await self.reader.get(order_id)
        if update is None:  # pragma: no cover - the row was just written
            raise OrderNotFound(order_id)
        return update


def _log_change(
    order_id: str, previous: str | None, change: Change, version: int, steps: ChangeInProgress
) -> None:
    """The change's line, once committed; a payment's also says what its steps did (tickets
    signed, e-mails queued), so one line tells an operator the payment's outcome."""
    template = "status changed order=%s %s -> %s version=%d source=%s"
    args: list[object] = [order_id, previous, change.to_status, version, change.source]
    if steps.tickets_issued or steps.emails_queued:
        template += " tickets=%d mail=%s"
        args += [steps.tickets_issued, ",".join(steps.emails_queued or ()) or "-"]
    # The two statuses have no `name=` in the text: named here for JSON logs.
    log.info(template, *args, extra={"from_status": previous, "status": change.to_status})
