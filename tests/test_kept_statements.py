"""Statements kept for later (`execute_later`, `fetch_column_later`): on PostgreSQL, inside a
transaction, they go together in one round trip; everywhere they write and return what they
would have at once, commit with their transaction and go with its rollback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from server.store import Database
from server.store.failures import StoreConflict
from server.store.prepared import Prepared
from server.store.tables import orders

NEW_ORDER = Prepared(
    orders.insert().values(
        id=sa.bindparam("id"),
        order_number=sa.bindparam("number"),
        amount=1,
        payment_status="pending",
        version=1,
        created_ms=7,
        updated_ms=7,
    )
)
# Each returns one column, as a kept fetch must.
SET_DESC_RETURNING = Prepared(
    orders.update()
    .where(orders.c.id == sa.bindparam("id"))
    .values(result_desc=sa.bindparam("desc"))
    .returning(orders.c.result_desc)
)
SET_NUMBER_RETURNING = Prepared(
    orders.update()
    .where(orders.c.id == sa.bindparam("id"))
    .values(order_number=sa.bindparam("number"))
    .returning(orders.c.id)
)
SET_AMOUNT = Prepared(
    orders.update().where(orders.c.id == sa.bindparam("id")).values(amount=sa.bindparam("amount"))
)


@pytest.fixture
async def database(migrated_store: Database) -> Database:
    for n in (1, 2, 3):
        await migrated_store.execute(NEW_ORDER.bind(id=f"o-{n}", number=f"ORD-00000{n}"))
    return migrated_store


async def _rows(database: Database) -> dict[str, tuple[Any, ...]]:
    rows = await database.fetch_all(
        sa.select(orders.c.id, orders.c.order_number, orders.c.amount, orders.c.result_desc)
    )
    return {row["id"]: (row["order_number"], row["amount"], row["result_desc"]) for row in rows}


async def test_kept_fetches_return_their_column_and_commit_with_the_writes(database: Database) -> None:
    async with database.transaction():
        await database.execute_later(SET_AMOUNT.bind(id="o-3", amount=30))
        described = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="kept"))
        missed = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-9", desc="no row"))
        renumbered = await database.fetch_column_later(
            SET_NUMBER_RETURNING.bind(id="o-2", number="ORD-NEW002")
        )
        await database.send_kept()
        assert (described.values, described.first) == (["kept"], "kept")
        assert (missed.values, missed.first) == ([], None)
        assert renumbered.values == ["o-2"]
    assert await _rows(database) == {
        "o-1": ("ORD-000001", 1, "kept"),
        "o-2": ("ORD-NEW002", 1, None),
        "o-3": ("ORD-000003", 30, None),
    }


async def test_the_next_statement_sends_what_was_kept_before_it_runs(database: Database) -> None:
    async with database.transaction():
        kept = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="first"))
        # This statement reads what the kept one wrote: it went before it, not with it.
        row = await database.fetch_one(sa.select(orders.c.result_desc).where(orders.c.id == "o-1"))
        assert row is not None and row["result_desc"] == "first"
        assert kept.first == "first"


async def test_kept_statements_go_with_a_rollback(database: Database) -> None:
    with pytest.raises(LookupError):
        async with database.transaction():
            await database.execute_later(SET_AMOUNT.bind(id="o-3", amount=30))
            sent = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="sent"))
            await database.send_kept()
            assert sent.first == "sent"
            await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-2", desc="never sent"))
            raise LookupError("roll back")
    assert await _rows(database) == {
        "o-1": ("ORD-000001", 1, None),
        "o-2": ("ORD-000002", 1, None),
        "o-3": ("ORD-000003", 1, None),
    }


async def test_a_kept_fetch_that_fails_fails_the_statement_that_sends_it(database: Database) -> None:
    with pytest.raises(StoreConflict):
        async with database.transaction():
            await database.execute_later(SET_AMOUNT.bind(id="o-3", amount=30))
            # The order number is unique: o-2 cannot take o-1's.
            await database.fetch_column_later(SET_NUMBER_RETURNING.bind(id="o-2", number="ORD-000001"))
            await database.send_kept()
    assert (await _rows(database))["o-3"] == ("ORD-000003", 1, None)


async def test_a_kept_value_read_before_it_is_sent_is_a_clear_error(database: Database) -> None:
    async with database.transaction():
        kept = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="kept"))
        if database.dialect_name == "postgresql":
            with pytest.raises(RuntimeError, match="before it was sent"):
                kept.values  # noqa: B018  # the property raises
        await database.send_kept()
        assert kept.values == ["kept"]


async def test_outside_a_transaction_a_kept_fetch_runs_at_once(database: Database) -> None:
    async with database.connection():
        kept = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="now"))
        assert kept.values == ["now"]
        # Another task, on a connection of its own, sees it committed.
        assert (await asyncio.create_task(_rows(database)))["o-1"][2] == "now"
    alone = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-2", desc="alone"))
    assert alone.first == "alone"


async def test_kept_statements_go_in_one_round_trip_on_postgres_and_at_once_on_sqlite(
    database: Database,
) -> None:
    if database.dialect_name == "sqlite":
        # A statement there is a call on the loop, not a round trip: nothing waits.
        async with database.transaction():
            kept = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="now"))
            assert kept.values == ["now"]
        return
    sent: list[str] = []
    async with database.connection():
        # asyncpg asks the server about an array type once per connection: before counting.
        async with database.transaction():
            await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-3", desc="warm"))
        session = database.held()
        assert session is not None
        connection: Any = getattr(session, "connection")  # noqa: B009  # asyncpg's, on PostgreSQL only
        connection.add_query_logger(lambda logged: sent.append(logged.query))
        async with database.transaction():
            await database.execute_later(SET_AMOUNT.bind(id="o-3", amount=30))
            first = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-1", desc="a"))
            second = await database.fetch_column_later(SET_DESC_RETURNING.bind(id="o-2", desc="b"))
            await database.send_kept()
            await asyncio.sleep(0)  # asyncpg tells its loggers with `call_soon`: one turn
            assert (first.values, second.values) == (["a"], ["b"])
        await asyncio.sleep(0)
    assert [query.split()[0] for query in sent] == ["BEGIN;", "WITH", "COMMIT;"]
    assert await _rows(database) == {
        "o-1": ("ORD-000001", 1, "a"),
        "o-2": ("ORD-000002", 1, "b"),
        "o-3": ("ORD-000003", 30, "warm"),
    }
