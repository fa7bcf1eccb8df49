"""Tests share PostgreSQL databases one after another (tests/backends.py): what a test left
behind must never reach the next one, and a database it changed must not be handed on."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.backends import PostgresDatabases, run_sync

_OUTBOX_ROW = (
    "INSERT INTO outbox (key, kind, recipient, payload, created_ms, next_attempt_ms)"
    " VALUES ('{key}', 'k', 'r', '{{}}', 1, 1)"
)


async def _run(url: str, *statements: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows: list[asyncpg.Record] = []
        for statement in statements:
            rows = await conn.fetch(statement)
        return rows
    finally:
        await conn.close()


def test_a_released_database_comes_back_empty_with_its_counters_from_one(postgres: PostgresDatabases) -> None:
    url = postgres.new_url()
    run_sync(_run(url, _OUTBOX_ROW.format(key="a")))
    postgres.release(url)
    again = postgres.new_url()
    assert again == url  # handed on, not created again
    assert run_sync(_run(again, "SELECT count(*) FROM outbox"))[0][0] == 0
    inserted = run_sync(_run(again, _OUTBOX_ROW.format(key="b") + " RETURNING id"))
    assert inserted[0][0] == 1
    postgres.release(again)


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE left_behind (id int)",
        "ALTER TABLE orders RENAME COLUMN receipt_number TO receipt_no",
        "DROP INDEX ix_outbox_unsent",
        "DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)",
    ],
)
def test_a_database_whose_schema_a_test_changed_is_dropped_not_handed_on(
    postgres: PostgresDatabases, change: str
) -> None:
    url = postgres.new_url()
    run_sync(_run(url, change))
    postgres.release(url)
    assert postgres.new_url() != url
    name = url.rsplit("/", 1)[1]
    exists = run_sync(_run(postgres.admin_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"))
    assert exists[0][0] == 0


def test_a_database_still_in_use_is_dropped_not_handed_on(postgres: PostgresDatabases) -> None:
    url = postgres.new_url()

    async def held_then_released() -> bool:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            postgres.release(url)  # another connection still open: not safe to hand on
            return url.rsplit("/", 1)[1] in postgres.spare
        finally:
            await conn.close()

    assert asyncio.run(held_then_released()) is False
