"""The store on SQLite and PostgreSQL alike: schema, versions and the state rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from server.app import open_services
from server.languages import known_language
from server.lifecycle import CANCELLED, COMPLETED, EXPIRED, FAILED, PENDING, PROCESSING
from server.services import Services
from server.settings import Settings
from server.store.database import ADDED_IN_4, ADDED_IN_5, _existing_columns, migrate
from server.store.ids import random_id
from server.store.tables import order_changes, orders, payment_pushes, payment_receipts, tickets
from server.tickets.short_codes import grouped
from server.transitions.change import Change
from server.transitions.changes import new_order_id
from server.transitions.receipts import ReceiptTaken
from server.transitions.ticket_codes import backfill_short_codes
from tests.fulfilment_helpers import eventually
from tests.helpers import move, new_order


@pytest.fixture(params=["sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Services]:
    async with open_services(make_settings(request.param, "memory")) as svc:
        yield svc


async def test_schema_creation_is_idempotent(store: Services) -> None:
    order = await new_order(store)
    await migrate(store.database)
    await migrate(store.database)
    assert (await store.reader.get(order.order_id)) == order


async def test_migration_5_gives_tickets_signed_before_it_their_short_codes(store: Services) -> None:
    """A database at schema 4: the gate's columns and index come, and a restart gives every
    signed ticket its short code, derived from its own code."""
    database = store.database
    order = await new_order(store)
    signer = store.gate.signer
    code = signer.sign("OldTicket0000001", "demo-fest", "early-bird")
    await database.execute(
        tickets.insert().values(
            id="OldTicket0000001",
            order_id=order.order_id,
            event_slug="demo-fest",
            ticket_type="early-bird",
            code=code,
            created_ms=1,
        )
    )
    await database.execute("DROP INDEX ix_tickets_short_code")
    for _, column in ADDED_IN_5:
        await database.execute(f"ALTER TABLE tickets DROP COLUMN {column}")
    # Back to schema 4: the migrations after it only add what is missing.
    await database.execute("DELETE FROM schema_version WHERE version >= 5")
    await migrate(database)
    for _, column in ADDED_IN_5:
        assert column in await _existing_columns(database, "tickets")
    assert await backfill_short_codes(database, signer) == 1
    assert await backfill_short_codes(database, signer) == 0, "once only"
    short = await database.fetch_val(sa.select(tickets.c.short_code).where(tickets.c.code == code))
    assert short == signer.short_code(code)
    check = await store.gate.verify(grouped(short).lower())
    assert check.ticket_id == "OldTicket0000001"


async def test_migration_7_gives_orders_their_language_older_ones_english(
    store: Services,
) -> None:
    """A database at schema 6 gets `orders.language`; an order from before has none (English)."""
    order = await new_order(store)
    await store.database.execute("ALTER TABLE orders DROP COLUMN language")
    await store.database.execute("DELETE FROM schema_version WHERE version >= 7")
    await migrate(store.database)
    assert "language" in await _existing_columns(store.database, "orders")
    stored = await store.database.fetch_val(sa.select(orders.c.language).where(orders.c.id == order.order_id))
    assert known_language(stored) == "en"


async def test_migration_4_adds_its_columns_to_a_database_made_before_it(store: Services) -> None:
    """A database at schema 3 gets the order's contact columns, push counts and replay links."""
    order = await new_order(store)
    for table, column in ADDED_IN_4:
        await store.database.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    await store.database.execute("DROP TABLE payment_pushes")
    await store.database.execute("DELETE FROM schema_version WHERE version >= 4")
    await migrate(store.database)
    for table, column in ADDED_IN_4:
        assert column in await _existing_columns(store.database, table)
    document = (await store.reader.get(order.order_id)).document  # type: ignore[union-attr]
    assert document["pushes"] == 0
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(payment_pushes)) == 0


async def test_migration_8_gives_each_paid_receipt_to_one_order(store: Services) -> None:
    """Before it, one receipt could complete two orders (issue 24): after it, the receipt is
    claimed once, and a third order completed with it is refused."""
    placed = [await new_order(store) for _ in range(3)]
    await store.database.execute("DROP TABLE payment_receipts")
    await store.database.execute("DELETE FROM schema_version WHERE version >= 8")
    for order in placed[:2]:
        await store.database.execute(
            orders.update()
            .where(orders.c.id == order.order_id)
            .values(payment_status=COMPLETED, receipt_number="SREUSED123")
        )
    await migrate(store.database)
    owners = await store.database.fetch_all(sa.select(payment_receipts.c.order_id))
    assert len(owners) == 1 and owners[0]["order_id"] in {o.order_id for o in placed[:2]}
    with pytest.raises(ReceiptTaken):
        await store.changes.apply(
            placed[2].order_id, Change(COMPLETED, source="test", fields={"receipt_number": "SREUSED123"})
        )
    assert (await store.reader.get(placed[2].order_id)).payment_status == PENDING  # type: ignore[union-attr]


async def test_a_new_order_starts_pending_at_version_1(store: Services) -> None:
    order = await new_order(store, amount=500)
    assert order.version == 1
    assert order.document["payment_status"] == PENDING
    assert order.document["amount"] == 500 and order.document["currency"] == "KES"
    assert len(order.order_id) >= 22  # 128+ random bits, URL-safe
    assert order.document["order_number"].startswith("ORD-")


# An order's history, (from, to, version) per change: placed, prompted, paid.
PAID_AFTER_A_PROMPT = [(None, PENDING, 1), (PENDING, PROCESSING, 2), (PROCESSING, COMPLETED, 3)]


async def _history(store: Services, order_id: str) -> list[tuple[str | None, str, int]]:
    rows = await store.database.fetch_all(
        sa.select(order_changes).where(order_changes.c.order_id == order_id).order_by("version")
    )
    return [(r["from_status"], r["to_status"], r["version"]) for r in rows]


async def test_every_change_bumps_the_version_by_one_and_is_recorded(store: Services) -> None:
    order = await new_order(store)
    processing = await move(store, order.order_id, PROCESSING, checkout_request_id="ws_CO_1")
    completed = await move(store, order.order_id, COMPLETED, receipt_number="SAE3YULR0Y", result_code=0)
    assert (processing.version, completed.version) == (2, 3)
    assert completed.document["receipt_number"] == "SAE3YULR0Y"
    assert await _history(store, order.order_id) == PAID_AFTER_A_PROMPT


@pytest.mark.parametrize("late", [FAILED, CANCELLED, EXPIRED])
async def test_failures_never_overwrite_completed(store: Services, late: str) -> None:
    order = await new_order(store)
    await move(store, order.order_id, COMPLETED)
    result = await store.changes.apply(order.order_id, Change(late, source="test"))
    assert not result.applied
    assert result.update.payment_status == COMPLETED and result.update.version == 2


async def test_a_success_after_expiry_still_completes(store: Services) -> None:
    order = await new_order(store)
    await move(store, order.order_id, PROCESSING)
    await move(store, order.order_id, EXPIRED)
    result = await store.changes.apply(order.order_id, Change(COMPLETED, source="test"))
    assert result.applied and result.previous_status == EXPIRED
    assert result.update.payment_status == COMPLETED and result.update.version == 4


async def test_concurrent_identical_changes_apply_once(store: Services) -> None:
    order = await new_order(store)
    await move(store, order.order_id, PROCESSING)
    results = await asyncio.gather(
        *(store.changes.apply(order.order_id, Change(COMPLETED, source="test")) for _ in range(10))
    )
    assert sum(r.applied for r in results) == 1
    final = await store.reader.get(order.order_id)
    assert final is not None and final.version == 3


async def test_concurrent_writers_wait_instead_of_failing(store: Services) -> None:
    # On SQLite this is WAL plus the busy timeout; "database is locked" would fail it.
    orders = await asyncio.gather(*(new_order(store) for _ in range(40)))
    await asyncio.gather(*(move(store, o.order_id, PROCESSING) for o in orders))
    stored = await store.reader.get_many([o.order_id for o in orders])
    assert sorted(u.version for u in stored) == [2] * 40


async def test_sqlite_runs_in_wal_mode(make_settings: Callable[..., Settings]) -> None:
    async with open_services(make_settings("sqlite", "memory")) as svc:
        assert (await svc.database.fetch_val("PRAGMA journal_mode")).lower() == "wal"


async def test_a_taken_order_number_is_drawn_again(store: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.transitions import changes

    first = await new_order(store)
    numbers = iter([first.document["order_number"], "ORD-NEW001"])
    monkeypatch.setattr(changes, "new_order_number", lambda: next(numbers))
    async with store.database.transaction():  # as checkout does: the retry is a savepoint
        second = await new_order(store)
    assert second.document["order_number"] == "ORD-NEW001"
    assert (await store.reader.get(first.order_id)) == first


def test_order_and_ticket_ids_never_start_with_a_dash() -> None:
    """An operator pastes them on a command line, where "-x3F…" would be read as an option.

    2,000 draws: an id starting with "-" would come 1 in 64 times without the redraw."""
    ids = [new_order_id() for _ in range(1000)] + [random_id(12) for _ in range(1000)]
    assert not [found for found in ids if found.startswith("-")]
    assert all(len(found) == 24 for found in ids[:1000]) and all(len(found) == 16 for found in ids[1000:])


async def _blocked_on_a_row_lock(store: Services) -> bool:
    """Whether a statement of this database waits on a lock another transaction holds."""
    waiting = await store.database.fetch_val(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def test_a_change_that_waited_on_another_names_the_status_that_one_set(
    make_settings: Callable[..., Settings],
) -> None:
    """PostgreSQL: a payment whose UPDATE waited on another process's change comes from the
    status that change set, in its result and its history row. (Its RETURNING is evaluated
    in the snapshot the UPDATE began with, which lacks the other change's history row.)"""
    async with open_services(make_settings("postgres", "memory")) as store:
        order = await new_order(store)
        holding, release = asyncio.Event(), asyncio.Event()

        async def another_process_moves_it_to_processing() -> None:
            async with store.database.transaction():
                await store.database.execute(
                    orders.update()
                    .where(orders.c.id == order.order_id)
                    .values(payment_status=PROCESSING, version=2)
                )
                await store.database.execute(
                    order_changes.insert().values(
                        order_id=order.order_id,
                        version=2,
                        from_status=PENDING,
                        to_status=PROCESSING,
                        source="elsewhere",
                        created_ms=1,
                    )
                )
                holding.set()
                await release.wait()

        other = asyncio.create_task(another_process_moves_it_to_processing())
        await holding.wait()
        paying = asyncio.create_task(store.changes.apply(order.order_id, Change(COMPLETED, source="test")))
        await eventually(lambda: _blocked_on_a_row_lock(store))
        release.set()
        await other
        result = await paying
        assert result.applied and result.previous_status == PROCESSING
        assert await _history(store, order.order_id) == PAID_AFTER_A_PROMPT


async def _paid_with_tickets(
    store: Services, *, signed_before: str | None = None
) -> tuple[list[str], list[str]]:
    """An order of three tickets paid: the ticket ids its published document lists, and
    those a later read lists. Ids and times chosen so that neither the order they were
    written in nor their ids alone is the order a document lists them in (time, then id)."""
    placed = await store.changes.create(
        {"amount": 900, "event_slug": "demo-fest", "ticket_type": "early-bird", "quantity": 3}
    )
    signer = store.gate.signer
    for ticket_id, created_ms in (("ticket-B", 5), ("ticket-A", 5), ("ticket-C", 1)):
        code = signer.sign(ticket_id, "demo-fest", "early-bird") if ticket_id == signed_before else None
        await store.database.execute(
            tickets.insert().values(
                id=ticket_id,
                order_id=placed.order_id,
                event_slug="demo-fest",
                ticket_type="early-bird",
                created_ms=created_ms,
                code=code,
                short_code=None if code is None else signer.short_code(code, 0),
            )
        )
    result = await store.changes.apply(placed.order_id, Change(COMPLETED, source="test"))
    read = await store.reader.get(placed.order_id)
    assert result.applied and read is not None
    assert all(ticket["code"] for ticket in read.document["tickets"])
    assert result.update.document["tickets"] == read.document["tickets"]
    return (
        [t["ticket_id"] for t in result.update.document["tickets"]],
        [t["ticket_id"] for t in read.document["tickets"]],
    )


async def test_a_payment_signs_every_ticket_and_publishes_them_as_a_read_lists_them(store: Services) -> None:
    """The completing UPDATE lists the order's tickets for the step that signs them (no read
    first): every one is signed, in the order a status document lists them."""
    published, read = await _paid_with_tickets(store)
    assert published == read == ["ticket-C", "ticket-A", "ticket-B"]


async def test_a_ticket_signed_before_the_payment_keeps_its_code(store: Services) -> None:
    signer = store.gate.signer
    published, read = await _paid_with_tickets(store, signed_before="ticket-A")
    assert published == read == ["ticket-C", "ticket-A", "ticket-B"]
    kept = await store.database.fetch_val(sa.select(tickets.c.code).where(tickets.c.id == "ticket-A"))
    assert kept == signer.sign("ticket-A", "demo-fest", "early-bird")
