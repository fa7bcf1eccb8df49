"""A PostgreSQL database of the benchmark's own, created for one run and dropped after."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import asyncpg

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def temporary_database(admin_url: str | None = None) -> AsyncIterator[str]:
    """Yields the URL of a fresh, empty database; drops it (connections and all) at the end."""
    admin_url = admin_url or ADMIN_URL
    name = f"bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(admin_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def pool_per_process(url: str, processes: int, *, spare: int = 10) -> int:
    """A `DATABASE_POOL_SIZE` for `processes` service processes sharing the server at `url`:
    what its `max_connections` leaves, less `spare` for the bench and others, split evenly.

    A `DATABASE_POOL_SIZE` already in the environment is the most each process takes: the
    test suite sets one so that every test's pools together fit the server, since what is
    left now is also what a test running beside this one counts on (issue 23)."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        allowed = int(await connection.fetchval("SHOW max_connections"))
        others = int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            )
        )
    finally:
        await connection.close()
    most = int(os.environ.get("DATABASE_POOL_SIZE", "20"))
    return max(2, min(most, (allowed - others - spare) // max(1, processes)))
