"""The PostgreSQL pool sends no reset statement on release, yet never lends a connection
still inside a transaction (server/store/postgres_backend.py, `keep_session`)."""

from __future__ import annotations

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
        pool: Any = database._backend._pool
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
