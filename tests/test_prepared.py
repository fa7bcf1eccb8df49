"""Prepared statements on SQLite and PostgreSQL: same rows as a built statement, same rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from server.lifecycle import COMPLETED
from server.payments.callbacks import HOLD_FOR_REVIEW
from server.payments.matching import LAST_CHANGE_SOURCE, ORDER_AND_PUSHES
from server.payments.pushes import PUSHES_OF_ORDER, RECORD_ANSWER
from server.settings import Settings
from server.status.signed_tickets import SIGNED_TICKETS_OF_ORDER
from server.store import Database
from server.store.database import SCHEMA_VERSION_TABLE, is_postgres, migrate, open_database
from server.store.prepared import Prepared
from server.store.rows import OrderRow
from server.store.sqlite_statements import sqlite_dialect
from server.store.tables import orders
from server.transitions.callback_rows import MARK_CALLBACK, NOTE_RESULT
from server.transitions.changes import HISTORY_STATUS, transition
from server.transitions.seats import RESERVE
from server.transitions.ticket_codes import ORDER_TICKETS, SIGN_TICKET

INSERT_ORDER = Prepared(
    orders.insert()
    .values(
        id=sa.bindparam("id"),
        order_number=sa.bindparam("number"),
        amount=sa.bindparam("amount"),
        payment_status="pending",
        version=1,
        created_ms=sa.bindparam("stamp"),
        updated_ms=sa.bindparam("stamp"),
    )
    .returning(orders.c.id, orders.c.version)
)
BUMP = Prepared(
    orders.update()
    .where(orders.c.id == sa.bindparam("id"))
    .values(version=orders.c.version + 1, result_desc=sa.bindparam("desc"))
    .returning(orders.c.version, orders.c.result_desc)
)
BY_ID = Prepared(orders.select().where(orders.c.id == sa.bindparam("id")))


@pytest.fixture
async def database(migrated_store: Database) -> Database:
    return migrated_store


async def test_a_prepared_statement_reads_what_a_built_one_reads(database: Database) -> None:
    created = await database.fetch_one(INSERT_ORDER.bind(id="o-1", number="ORD-000001", amount=300, stamp=7))
    assert created is not None and (created["id"], created["version"]) == ("o-1", 1)
    # Run twice: the second run takes the cached compilation with new values.
    for n, desc in ((2, "first"), (3, "second ∑ unicode")):
        bumped = await database.fetch_one(BUMP.bind(id="o-1", desc=desc))
        assert bumped is not None and (bumped["version"], bumped["result_desc"]) == (n, desc)
    prepared = await database.fetch_one(BY_ID.bind(id="o-1"))
    built = await database.fetch_one(orders.select().where(orders.c.id == "o-1"))
    assert prepared is not None and built is not None
    assert dict(prepared) == dict(built)
    assert await database.fetch_one(BY_ID.bind(id="no-such-order")) is None


async def test_a_row_reads_alike_on_both_stores(database: Database) -> None:
    """What the rest of the service reads off a row, the same on SQLite and PostgreSQL: by
    column name, by position and as a mapping of column names (what typed rows are built
    from), labels included."""
    await database.execute(INSERT_ORDER.bind(id="o-4", number="ORD-000004", amount=450, stamp=9))
    row = await database.fetch_one(BY_ID.bind(id="o-4"))
    assert row is not None
    assert list(row.keys())[:3] == ["id", "order_number", "customer_id"]
    assert (row["amount"], row[0], row["amount"]) == (450, "o-4", 450)
    assert OrderRow.from_mapping(row).order_number == "ORD-000004"
    labelled = await database.fetch_one(sa.select(orders.c.id, (orders.c.amount * 2).label("twice")))
    assert labelled is not None and dict(labelled) == {"id": "o-4", "twice": 900}


async def test_a_missing_value_is_an_error_not_a_null(database: Database) -> None:
    with pytest.raises(SQLAlchemyError, match="amount"):
        await database.execute(INSERT_ORDER.bind(id="o-2", number="ORD-000002", stamp=7))
    assert await database.fetch_one(BY_ID.bind(id="o-2")) is None


async def test_prepared_writes_roll_back_with_their_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction():
            await database.execute(INSERT_ORDER.bind(id="o-3", number="ORD-000003", amount=1, stamp=7))
            assert await database.fetch_one(BY_ID.bind(id="o-3")) is not None
            raise RuntimeError("abort")
    assert await database.fetch_one(BY_ID.bind(id="o-3")) is None


async def test_a_held_connection_runs_each_statement_itself(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a transaction every kind of statement runs on the transaction's connection
    (it sees the uncommitted order, and rolls back with it) without taking another
    (server/store/sessions.py); two tasks interleaving their transactions each see only
    their own."""
    entered = 0
    backend: Any = database.backend
    open_session = backend.open_session

    async def counting() -> Any:
        nonlocal entered
        entered += 1
        return await open_session()

    async def one_task(order_id: str, number: str, turn: asyncio.Event, next_turn: asyncio.Event) -> None:
        nonlocal entered
        with pytest.raises(RuntimeError, match="roll back"):
            async with database.transaction():
                entered = 0
                await database.execute(INSERT_ORDER.bind(id=order_id, number=number, amount=300, stamp=7))
                next_turn.set()
                await turn.wait()  # the other task writes its own order meanwhile
                assert await database.fetch_val(BY_ID.bind(id=order_id)) == order_id
                row = await database.fetch_one(BUMP.bind(id=order_id, desc="held"))
                assert row is not None and row["version"] == 2
                assert [r["id"] for r in await database.fetch_all(BY_ID.bind(id=order_id))] == [order_id]
                assert entered == 0
                raise RuntimeError("roll back")

    monkeypatch.setattr(backend, "open_session", counting)
    if is_postgres(database):
        first, second = asyncio.Event(), asyncio.Event()
        await asyncio.gather(
            one_task("o-a", "ORD-00000A", first, second), one_task("o-b", "ORD-00000B", second, first)
        )
    else:  # one writer at a time: the tasks cannot interleave their transactions
        for order_id, number in (("o-a", "ORD-00000A"), ("o-b", "ORD-00000B")):
            ready = asyncio.Event()
            ready.set()
            await one_task(order_id, number, ready, asyncio.Event())
    assert await database.fetch_one(BY_ID.bind(id="o-a")) is None
    assert await database.fetch_one(BY_ID.bind(id="o-b")) is None
    if is_postgres(database):  # a statement outside any held connection borrows its own
        assert entered > 0


async def test_a_task_started_inside_a_transaction_runs_on_a_connection_of_its_own(
    database: Database,
) -> None:
    """A child task inherits its parent's context, and with it the variable that holds the
    parent's connection (server/store/sessions.py): it must not run its statements on that
    connection (it would see, and on PostgreSQL interleave with, the parent's uncommitted
    work), but take its own, as under `databases`' task map."""
    with pytest.raises(RuntimeError, match="roll back"):
        async with database.transaction():
            await database.execute(INSERT_ORDER.bind(id="o-p", number="ORD-00000P", amount=1, stamp=7))
            assert await database.fetch_val(BY_ID.bind(id="o-p")) == "o-p"
            # The child's read sees only what is committed: not the parent's order.
            assert await asyncio.create_task(database.fetch_one(BY_ID.bind(id="o-p"))) is None
            assert database.held() is not None
            assert await asyncio.create_task(_held_in_child(database)) is False
            raise RuntimeError("roll back")
    assert database.held() is None
    assert await database.fetch_one(BY_ID.bind(id="o-p")) is None


async def _held_in_child(database: Database) -> bool:
    return database.held() is not None


async def test_a_connection_block_that_raises_gives_its_connection_back(
    make_settings: Callable[..., Settings],
) -> None:
    """With a pool of one, a `connection()` block left by an exception must have given its
    connection back: the next statement, in another task, gets it within the acquire limit."""
    db = open_database(make_settings("postgres").database_url, pool_size=1, acquire_timeout=2.0)
    await db.connect()
    try:
        with pytest.raises(LookupError):
            async with db.connection():
                assert await db.fetch_val("SELECT 1") == 1
                raise LookupError("gone mid-block")
        assert db.held() is None
        assert await asyncio.create_task(db.fetch_val("SELECT 2")) == 2
    finally:
        async with asyncio.timeout(10):
            await db.disconnect()


async def test_a_commit_that_fails_gives_its_connection_back(make_settings: Callable[..., Settings]) -> None:
    """A COMMIT that PostgreSQL refuses (a deferred check) is the caller's error, and the
    task leaves the connection: with a pool of one, the next statement, in another task,
    gets it at once (`databases`' own transaction kept it; server/store/sessions.py)."""
    db = open_database(make_settings("postgres").database_url, pool_size=1, acquire_timeout=2.0)
    await db.connect()
    try:
        await db.execute(
            "CREATE TABLE deferred_check (id INTEGER PRIMARY KEY, parent INTEGER"
            " REFERENCES deferred_check (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        with pytest.raises(Exception, match="deferred_check"):
            async with db.transaction():
                await db.execute("INSERT INTO deferred_check (id, parent) VALUES (1, 99)")
        assert db.held() is None
        assert await asyncio.create_task(db.fetch_val("SELECT COUNT(*) FROM deferred_check")) == 0
    finally:
        async with asyncio.timeout(10):  # a pool closing waits for a connection never given back
            await db.disconnect()


def test_an_in_list_given_per_call_is_refused() -> None:
    with pytest.raises(ValueError, match="IN lists"):
        Prepared(sa.select(orders.c.id).where(orders.c.id.in_(sa.bindparam("ids", expanding=True))))


async def test_an_older_database_gets_the_customer_index(database: Database) -> None:
    await database.execute("DROP INDEX ix_orders_customer_status")
    await database.execute(f"DELETE FROM {SCHEMA_VERSION_TABLE} WHERE version > 2")
    await migrate(database)
    if is_postgres(database):
        found = await database.fetch_val(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_orders_customer_status'"
        )
        assert found == 1
        return
    # SQLite: the "first paid order?" check of every payment searches by customer, rather
    # than scanning every paid order through the status index.
    # (The check is part of the completing UPDATE, which returns the order's customer.)
    sql = transition(COMPLETED, ("receipt_number",)).statement.compile(dialect=sqlite_dialect()).string
    raw = database.backend.raw_connection()  # type: ignore[attr-defined]
    plan = raw.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")).fetchall()
    assert any("ix_orders_customer_status" in row[3] for row in plan), plan


# The statements every payment runs, with the values a plan needs.
PAYMENT_PATH = {
    "order by number, with its pushes": (ORDER_AND_PUSHES, ["ORD-1"]),
    "previous status, read alone": (HISTORY_STATUS, ["o", 1]),
    # With the status it came from, the customer, and "paid before?" the outbox step writes to.
    "status update": (transition(COMPLETED, ("receipt_number", "result_code", "result_desc")), None),
    "order's tickets": (ORDER_TICKETS, ["o"]),
    "seats taken at checkout": (RESERVE, [1, "demo-fest", "early-bird", 1]),
    "sign a ticket": (SIGN_TICKET, ["code", "short", "t", "short"]),
    "signed tickets (document, e-mail)": (SIGNED_TICKETS_OF_ORDER, ["o"]),
    "mark the callback": (MARK_CALLBACK, None),
    "the order's pushes": (PUSHES_OF_ORDER, ["o"]),
    "PayHero's answer to a push": (RECORD_ANSWER, None),
    "what the push's callback said": (NOTE_RESULT, None),
    "who changed the order last": (LAST_CHANGE_SOURCE, ["o", 1, 0]),
    "hold for review": (HOLD_FOR_REVIEW, None),
}


WALKS_NO_TABLE = ("SCAN CONSTANT ROW", "SCALAR SUBQUERY", "CO-ROUTINE (subquery-", "SCAN (subquery-")


@pytest.mark.parametrize("name", sorted(PAYMENT_PATH))
async def test_the_payment_path_searches_by_key_never_scans(tmp_path: Path, name: str) -> None:
    # Without statistics SQLite plans from the schema alone: a wrong index is a walk over
    # every order or ticket in the shop, growing with it. Read the plan, not a stopwatch.
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'plans.sqlite3'}")
    await database.connect()
    try:
        await migrate(database)
        prepared, values = PAYMENT_PATH[name]
        sql = prepared.statement.compile(dialect=sqlite_dialect()).string
        values = values or [1] * sql.count("?")
        raw = database.backend.raw_connection()  # type: ignore[attr-defined]
        steps = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, values).fetchall()]
    finally:
        await database.disconnect()
    # An INSERT ... SELECT of bound values reads one constant row: no table is scanned. Nor
    # is one by a scan of a subquery's rows (the completing UPDATE's list of the order's
    # tickets, ordered): those are what its own SEARCH found.
    plan = " / ".join(s for s in steps if not s.startswith(WALKS_NO_TABLE))
    assert plan.startswith("SEARCH") and " SCAN " not in f" {plan} ", plan
    assert "(code=?)" not in plan, plan


SET_DESC = Prepared(
    orders.update().where(orders.c.id == sa.bindparam("id")).values(result_desc=sa.bindparam("desc"))
)


async def _descs(database: Database) -> dict[str, str | None]:
    rows = await database.fetch_all(sa.select(orders.c.id, orders.c.result_desc).order_by(orders.c.id))
    return {row["id"]: row["result_desc"] for row in rows}


async def _two_orders(database: Database) -> None:
    for n in (1, 2):
        await database.execute(INSERT_ORDER.bind(id=f"o-{n}", number=f"ORD-00000{n}", amount=1, stamp=7))


async def test_a_write_kept_for_later_commits_with_its_transaction(database: Database) -> None:
    """`execute_later` (on PostgreSQL, carried by the next statement as a CTE) writes what
    `execute` writes: with a statement after it, and with only COMMIT after it."""
    await _two_orders(database)
    async with database.transaction():
        await database.execute_later(SET_DESC.bind(id="o-1", desc="carried"))
        # The next statement carries it; it reads another row, as the rule asks.
        assert await database.fetch_val(BY_ID.bind(id="o-2")) == "o-2"
        await database.execute_later(SET_DESC.bind(id="o-2", desc="sent at commit"))
    assert await _descs(database) == {"o-1": "carried", "o-2": "sent at commit"}


async def test_a_write_kept_for_later_goes_with_a_rollback(database: Database) -> None:
    await _two_orders(database)
    with pytest.raises(LookupError):
        async with database.transaction():
            await database.execute_later(SET_DESC.bind(id="o-1", desc="carried, then undone"))
            await database.fetch_val(BY_ID.bind(id="o-2"))
            await database.execute_later(SET_DESC.bind(id="o-2", desc="never sent"))
            raise LookupError("roll back")
    assert await _descs(database) == {"o-1": None, "o-2": None}


async def test_a_savepoints_rollback_drops_only_the_writes_kept_inside_it(database: Database) -> None:
    await _two_orders(database)
    async with database.transaction():
        await database.execute_later(SET_DESC.bind(id="o-1", desc="before the savepoint"))
        with pytest.raises(LookupError):
            async with database.transaction():
                await database.execute_later(SET_DESC.bind(id="o-2", desc="inside it"))
                raise LookupError("roll back to the savepoint")
    assert await _descs(database) == {"o-1": "before the savepoint", "o-2": None}


async def test_a_write_kept_for_later_outside_a_transaction_is_written_at_once(database: Database) -> None:
    await _two_orders(database)
    async with database.connection():
        await database.execute_later(SET_DESC.bind(id="o-1", desc="now"))
        # Another task, on a connection of its own, sees it committed.
        assert await asyncio.create_task(_descs(database)) == {"o-1": "now", "o-2": None}


async def test_a_kept_write_that_fails_fails_its_transaction(database: Database) -> None:
    await _two_orders(database)
    with pytest.raises(Exception, match=r"(?i)null"):
        async with database.transaction():
            await database.execute(SET_DESC.bind(id="o-2", desc="undone with the rest"))
            await database.execute_later(orders.update().where(orders.c.id == "o-1").values(version=None))
            await database.fetch_val(BY_ID.bind(id="o-2"))
    assert await _descs(database) == {"o-1": None, "o-2": None}


async def test_a_statement_that_cannot_carry_kept_writes_goes_after_them(
    make_settings: Callable[..., Settings],
) -> None:
    # PostgreSQL lets a WITH lead SELECT, INSERT, UPDATE and DELETE only: a LOCK (or a SET, or
    # DDL) after a kept write must not be given one.
    database = open_database(make_settings("postgres").database_url)
    await database.connect()
    try:
        await migrate(database)
        await _two_orders(database)
        async with database.transaction():
            await database.execute_later(SET_DESC.bind(id="o-1", desc="before the lock"))
            await database.execute("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        assert await _descs(database) == {"o-1": "before the lock", "o-2": None}
    finally:
        await database.disconnect()
