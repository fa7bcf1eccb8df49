"""The PostgreSQL pool sends no reset statement on release, yet never lends a connection
still inside a transaction (server/store/postgres_backend.py, `keep_session`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.store.database import open_database
from tests.backends import PostgresDatabases


@pytest.mark.postgres
async def test_a_released_connection_costs_no_statement_and_is_never_left_in_a_transaction(
    postgres: PostgresDatabases,
) -> None:
    database = open_database(postgres.new_url())
    await database.connect()
    try:
        pool: Any = database.backend.pool  # type: ignore[attr-defined]
        connection = await pool.acquire()
        sent: list[str] = []
        connection.add_query_logger(lambda record: sent.append(record.query))
        await connection.execute("SELECT 1")
        await pool.release(connection)
        # asyncpg's default would have sent `SELECT pg_advisory_unlock_all(); CLOSE ALL; ...`.
        assert sent == ["SELECT 1"]

        forgetful = await pool.acquire()
        ended: list[str] = []
        forgetful.add_query_logger(lambda record: ended.append(record.query))
        await forgetful.execute("BEGIN")  # a transaction its holder forgot
        await pool.release(forgetful)
        assert ended == ["BEGIN", "ROLLBACK"]
        again = await pool.acquire()
        try:
            assert not again.is_in_transaction()
        finally:
            await pool.release(again)
    finally:
        await database.disconnect()


@pytest.mark.postgres
async def test_one_process_never_opens_more_connections_than_its_pool_size(
    postgres: PostgresDatabases,
) -> None:
    # WEB_CONCURRENCY x DATABASE_POOL_SIZE must fit the server's max_connections: a process
    # asked for more statements at once than its pool holds queues them instead of opening more.
    url = postgres.new_url()
    database = open_database(url, pool_size=3)
    await database.connect()
    try:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        seen: list[int] = []

        async def busy() -> None:
            async with database.connection():
                seen.append(int(await database.fetch_val(backends, {"name": name})))
                await database.execute("SELECT pg_sleep(0.05)")

        await asyncio.gather(*(busy() for _ in range(12)))
        assert len(seen) == 12 and max(seen) <= 2  # the others of its pool of 3
    finally:
        await database.disconnect()
