"""The store's typed rows: one field per column, in the table's order, built from real results."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from server.lifecycle import COMPLETED
from server.services import Services
from server.status.signed_tickets import SIGNED_COLUMNS
from server.store import CallbackRow, OrderRow, OutboxRow, PushRow, SignedTicketRow, TicketRow
from server.store.tables import orders, outbox, payhero_callbacks, payment_pushes, tickets
from tests.helpers import move, new_order


@pytest.mark.parametrize(
    ("row", "table"),
    [
        (OrderRow, orders),
        (TicketRow, tickets),
        (OutboxRow, outbox),
        (PushRow, payment_pushes),
        (CallbackRow, payhero_callbacks),
    ],
)
def test_a_row_has_its_tables_columns_in_order(row: type[OrderRow], table: sa.Table) -> None:
    # A column added by a migration and not to its row is caught here, not by a KeyError later.
    assert row.COLUMNS == tuple(column.name for column in table.c)


def test_the_signed_ticket_row_is_what_a_status_document_selects() -> None:
    assert SignedTicketRow.COLUMNS == tuple(column.name for column in SIGNED_COLUMNS)


def test_from_mapping_reads_every_column_by_name_whatever_the_mappings_order() -> None:
    values = {name: f"v-{name}" for name in reversed(PushRow.COLUMNS)}
    row = PushRow.from_mapping({**values, "extra": "ignored"})
    assert [getattr(row, name) for name in PushRow.COLUMNS] == [f"v-{n}" for n in PushRow.COLUMNS]


def test_from_mapping_refuses_a_mapping_without_a_column() -> None:
    values = {name: 1 for name in CallbackRow.COLUMNS if name != "replay_of"}
    with pytest.raises(KeyError):
        CallbackRow.from_mapping(values)


async def test_rows_built_from_each_stores_results(services: Services) -> None:
    store = services  # both stacks: SQLite, and PostgreSQL (asyncpg's records)
    update = await new_order(store)
    await store.database.execute(
        tickets.insert().values(
            id="RowsTicket000001",
            order_id=update.order_id,
            event_slug="demo-fest",
            ticket_type="early-bird",
            created_ms=1,
        )
    )
    await move(store, update.order_id, COMPLETED, receipt_number="RCPT-ROWS-1")
    found = await store.database.fetch_one(orders.select().where(orders.c.id == update.order_id))
    assert found is not None
    order = OrderRow.from_mapping(found)
    assert (order.id, order.payment_status, order.receipt_number) == (
        update.order_id,
        COMPLETED,
        "RCPT-ROWS-1",
    )
    assert isinstance(order.version, int) and order.version >= 2
    ticket_rows = await store.database.fetch_all(tickets.select().where(tickets.c.order_id == order.id))
    assert ticket_rows
    for ticket in (TicketRow.from_mapping(r) for r in ticket_rows):
        assert ticket.order_id == order.id and ticket.code


def sqlite_row(names: list[str], values: list[object]) -> sqlite3.Row:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    columns = ", ".join(f"? AS {name}" for name in names)
    row: sqlite3.Row = connection.execute(f"SELECT {columns}", values).fetchone()
    connection.close()
    return row


def test_a_sqlite_row_is_read_as_by_name_whatever_its_columns_order_and_case() -> None:
    # The positions are found once per list of names, then reused: each shape twice.
    names = list(reversed(PushRow.COLUMNS))
    for _ in range(2):
        row = PushRow.from_mapping(sqlite_row([*names, "extra"], [f"v-{n}" for n in names] + ["x"]))
        assert [getattr(row, name) for name in PushRow.COLUMNS] == [f"v-{n}" for n in PushRow.COLUMNS]
    # A name twice: the first, as `row[name]` reads it. A name in capitals: found.
    shouting = [name.upper() for name in PushRow.COLUMNS]
    for _ in range(2):
        twice = sqlite_row([*shouting, "id"], [f"v-{n}" for n in PushRow.COLUMNS] + ["second"])
        assert PushRow.from_mapping(twice).id == twice["id"] == "v-id"


def test_a_sqlite_row_without_a_column_is_refused() -> None:
    names = [name for name in PushRow.COLUMNS if name != "outcome"]
    with pytest.raises((KeyError, IndexError)):
        PushRow.from_mapping(sqlite_row(names, [1] * len(names)))
