"""The SQLite backend: isolation, writers taking turns, another process's lock, the cache."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.store import Database
from server.store.database import migrate, open_database
from server.store.sqlite_checkpoints import CHECKPOINT_EVERY_COMMITS, SAFETY_NET_FRAMES, Checkpointer
from server.store.tables import orders


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
    await db.connect()
    await migrate(db)
    yield db
    await db.disconnect()


def order_row(n: int, status: str = "pending") -> dict[str, object]:
    return {
        "id": f"order-{n}",
        "order_number": f"ORD-{n:06d}",
        "amount": 300,
        "payment_status": status,
        "version": 1,
        "created_ms": 1,
        "updated_ms": 1,
    }


async def status_of(database: Database, order_id: str) -> str | None:
    value = await database.fetch_val(sa.select(orders.c.payment_status).where(orders.c.id == order_id))
    return None if value is None else str(value)


async def test_others_do_not_see_a_transaction_until_it_commits(database: Database) -> None:
    await database.execute(orders.insert().values(**order_row(1)))
    inside_saw: list[str | None] = []
    committed = asyncio.Event()
    updated = asyncio.Event()

    async def writer() -> None:
        async with database.transaction():
            await database.execute(
                orders.update().where(orders.c.id == "order-1").values(payment_status="paid")
            )
            inside_saw.append(await status_of(database, "order-1"))
            updated.set()
            await committed.wait()

    task = asyncio.create_task(writer())
    await updated.wait()
    assert await status_of(database, "order-1") == "pending"  # another task: the last commit
    committed.set()
    await task
    assert inside_saw == ["paid"]  # the transaction's own task reads its own writes
    assert await status_of(database, "order-1") == "paid"


async def test_a_failed_transaction_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction():
            await database.execute(orders.insert().values(**order_row(2)))
            raise RuntimeError("boom")
    assert await status_of(database, "order-2") is None
    await database.execute(orders.insert().values(**order_row(2)))  # the writer is free again
    assert await status_of(database, "order-2") == "pending"


async def test_concurrent_writers_take_turns_without_database_is_locked(database: Database) -> None:
    await database.execute(orders.insert().values(**order_row(3)))

    async def bump() -> None:
        async with database.transaction():
            version = await database.fetch_val(sa.select(orders.c.version).where(orders.c.id == "order-3"))
            await asyncio.sleep(0)  # let the others try to get in between
            await database.execute(
                orders.update().where(orders.c.id == "order-3").values(version=version + 1)
            )

    await asyncio.gather(*(bump() for _ in range(50)))
    assert await database.fetch_val(sa.select(orders.c.version).where(orders.c.id == "order-3")) == 51


async def test_another_process_holding_the_lock_makes_writes_wait_not_the_loop(
    database: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, other.execute, "COMMIT")
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    started = loop.time()
    await database.execute(orders.insert().values(**order_row(4)))
    waited = loop.time() - started
    beating.cancel()
    other.close()
    assert waited >= 0.25 and ticks >= 10  # it waited for the lock, and the loop kept running
    assert await status_of(database, "order-4") == "pending"


async def test_cached_statements_take_each_executions_values(database: Database) -> None:
    for n in range(5, 10):
        await database.execute(orders.insert().values(**order_row(n, status="s" + str(n))))
    for n in range(5, 10):
        assert await status_of(database, f"order-{n}") == f"s{n}"
    for ids in (["order-5"], ["order-6", "order-7"], ["order-5", "order-8", "order-9"]):
        rows = await database.fetch_all(sa.select(orders.c.id).where(orders.c.id.in_(ids)))
        assert sorted(row["id"] for row in rows) == sorted(ids)
    returned = await database.fetch_one(
        orders.update()
        .where(orders.c.id == "order-9")
        .values(version=orders.c.version + 1)
        .returning(orders.c.version)
    )
    assert returned is not None and returned["version"] == 2


async def test_commits_reach_the_database_file_on_the_checkpoint_thread(
    database: Database, tmp_path: Path
) -> None:
    """SQLite's own checkpoint would run inside a COMMIT on the event loop, with two disk
    syncs; the service's connections leave it to a thread of their own. Few enough commits
    that SQLite's automatic checkpoint (1,000 frames by default) would not have run yet."""
    backend = database.backend
    checkpoints = backend.file.checkpoints  # type: ignore[attr-defined]
    writer = backend.file.writer  # type: ignore[attr-defined]
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_NET_FRAMES
    for n in range(CHECKPOINT_EVERY_COMMITS):
        await database.execute(orders.insert().values(**order_row(n)))
    path, rows = tmp_path / "store.sqlite3", CHECKPOINT_EVERY_COMMITS
    assert await rows_in_the_file_after_checkpoints(checkpoints, path, rows) == rows


async def rows_in_the_file_after_checkpoints(checkpoints: Checkpointer, path: Path, rows: int) -> int:
    """Each checkpoint the thread runs, awaited (the count-triggered one, or an idle one that
    came first, up to five), until the database file alone holds `rows` rows: its count."""
    in_file, runs = 0, checkpoints.runs
    for _ in range(5):
        if in_file == rows:
            break
        assert await asyncio.to_thread(checkpoints.wait_for_runs, runs + 1, 10.0)
        runs = checkpoints.runs
        in_file = rows_in_the_file_alone(path)
    return in_file


def rows_in_the_file_alone(path: Path) -> int:
    """Rows in `orders` as the database file alone holds them, its WAL not read."""
    main_file = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        (count,) = main_file.execute("SELECT count(*) FROM orders").fetchone()
    finally:
        main_file.close()
    return int(count)


async def test_disconnecting_ends_the_checkpoint_thread(tmp_path: Path) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
    await db.connect()
    threads = {thread for thread in threading.enumerate() if thread.name == "sqlite-checkpoints"}
    assert threads
    await db.disconnect()
    assert all(not thread.is_alive() for thread in threads)


async def test_two_processes_on_one_file_checkpoint_side_by_side(tmp_path: Path) -> None:
    """Two handles on one file, as two service processes would have, each with its own
    checkpoint thread: neither's checkpoint fails for the other's, and the file gets it all."""
    # On the module's own logger: the service's logging may have stopped "server" propagating.
    failures: list[logging.LogRecord] = []
    watch = logging.Handler(logging.WARNING)
    watch.emit = failures.append  # type: ignore[method-assign]
    logging.getLogger("server.store.sqlite_checkpoints").addHandler(watch)
    path = tmp_path / "store.sqlite3"
    first = open_database(f"sqlite+aiosqlite:///{path}")
    second = open_database(f"sqlite+aiosqlite:///{path}")
    await first.connect()
    await migrate(first)
    await second.connect()
    try:
        rows = 3 * CHECKPOINT_EVERY_COMMITS
        for n in range(rows):
            await (first if n % 2 else second).execute(orders.insert().values(**order_row(n)))
        threads = [db.backend.file.checkpoints for db in (first, second)]  # type: ignore[attr-defined]
        for checkpoints in threads:
            assert await asyncio.to_thread(checkpoints.wait_for_runs, 1, 10.0)
        assert await rows_in_the_file_after_checkpoints(threads[0], path, rows) == rows
    finally:
        await second.disconnect()
        await first.disconnect()
        logging.getLogger("server.store.sqlite_checkpoints").removeHandler(watch)
    assert not failures, [record.getMessage() for record in failures]
