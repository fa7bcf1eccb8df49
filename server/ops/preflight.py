"""Checks before a web process or a command starts serving: settings, then the store and
Redis reachable (waited for, bounded), the schema no newer than the code, and PostgreSQL's
connections enough for every worker's pool.

Each failure is one sentence naming what to fix (and a host and port, never a password),
printed without a traceback, and the process exits 2: what an operator reads in a
platform's log after a deploy that did not come up.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from server.settings import Settings, SettingsError
from server.settings.formats import endpoint
from server.store.database import MIGRATIONS, SchemaTooNew, open_database, schema_version
from server.store.postgres_url import postgres_target

EXIT_CONFIGURATION = 2


class StartRefused(Exception):
    """One sentence: why the service will not start, and what to fix."""


class NotUpInTime(StartRefused):
    """Still unreachable after STARTUP_WAIT (as opposed to a refusal no wait would change)."""


@dataclass
class Preflight:
    """What the checks found that is worth saying but does not stop the start."""

    warnings: list[str] = field(default_factory=list)


def refuse(lines: list[str] | tuple[str, ...], prefix: str = "configuration error") -> NoReturn:
    for line in lines:
        print(f"{prefix}: {line}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIGURATION)


def settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment, or every bad variable on a line of its own and exit 2."""
    try:
        return Settings.from_env(environ)
    except SettingsError as refused:
        refuse(refused.problems)


# Errors meaning "not up yet": worth waiting for, with the client library's own (added
# where it is imported: asyncpg and redis-py only when the settings name PostgreSQL or
# Redis, which a process on SQLite alone never loads). Anything else (a password refused,
# a database that does not exist, a server that will not speak TLS) fails at once.
_NOT_YET: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    ConnectionResetError,
    socket.gaierror,
    TimeoutError,
)


class _Refusal(Exception):
    """A refusal no waiting will change."""


def _reason(exc: BaseException, secrets: tuple[str, ...]) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


async def _wait(
    what: str,
    attempt: Callable[[], Awaitable[None]],
    settings: Settings,
    retry: tuple[type[BaseException], ...],
) -> None:
    deadline = time.monotonic() + settings.startup_wait
    pause = 0.2
    while True:
        try:
            async with asyncio.timeout(max(1.0, min(10.0, settings.startup_wait))):
                await attempt()
            return
        except retry as exc:
            if time.monotonic() + pause >= deadline:
                raise NotUpInTime(
                    f"{what} did not answer within {settings.startup_wait:g} s (STARTUP_WAIT): "
                    f"{_reason(exc, settings.secret_values())}"
                ) from None
        except StartRefused:
            raise
        except Exception as exc:
            raise StartRefused(
                f"{what} refused the connection: {_reason(exc, settings.secret_values())}"
            ) from None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


async def wait_for_postgres(settings: Settings) -> None:
    import asyncpg  # here: only a start with PostgreSQL loads it (see _NOT_YET)

    target = postgres_target(settings.database_url)

    async def attempt() -> None:
        connection = await asyncpg.connect(**target.connect_kwargs(), timeout=5)
        await connection.close()

    await _wait(
        f"PostgreSQL at {target.endpoint}", attempt, settings, (*_NOT_YET, asyncpg.CannotConnectNowError)
    )


async def wait_for_redis(settings: Settings) -> None:
    # Here: only a start with a REDIS_URL loads redis-py (see _NOT_YET).
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    url = settings.redis_url
    assert url is not None

    async def attempt() -> None:
        client = aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        except RedisConnectionError as exc:
            # redis-py wraps a TLS refusal as a connection error: no wait makes it pass.
            if "SSL" in str(exc) or "certificate" in str(exc):
                raise _Refusal(str(exc)) from None
            raise
        finally:
            await client.aclose()

    await _wait(
        f"Redis at {endpoint(url)}", attempt, settings, (*_NOT_YET, RedisTimeoutError, RedisConnectionError)
    )


async def wait_until_reachable(settings: Settings, found: Preflight | None = None) -> None:
    """The store (PostgreSQL), waited for up to STARTUP_WAIT, then refused. With `found`,
    Redis too: still down after STARTUP_WAIT it is a warning, not a refusal, since waiters
    are answered through the store without it (DESIGN rule 1) and the broker reconnects by
    itself; a refusal no wait changes (its certificate, its password) stops the start."""
    if settings.store_kind == "postgresql":
        await wait_for_postgres(settings)
    if settings.redis_url and found is not None:
        try:
            await wait_for_redis(settings)
        except NotUpInTime as late:
            found.warnings.append(
                f"{late}; starting without it: answers reach other processes through the store, "
                f"up to SAFETY_NET_INTERVAL ({settings.safety_net_interval:g} s) later, until it answers"
            )


async def check_schema(settings: Settings) -> int:
    """The database's schema version; refuses one newer than this code's."""
    database = open_database(settings.database_url, busy_timeout=settings.sqlite_busy_timeout, pool_size=1)
    await database.connect()
    try:
        found = await schema_version(database)
    finally:
        await database.disconnect()
    if found > len(MIGRATIONS):
        raise StartRefused(str(SchemaTooNew(found)))
    return found


async def connection_budget(settings: Settings, workers: int) -> str | None:
    """A warning when every worker's pool (and a command line's) would not fit PostgreSQL's
    `max_connections` (less the slots kept for superusers): past it, requests get 503."""
    import asyncpg  # only with PostgreSQL, as above

    target = postgres_target(settings.database_url)
    connection = await asyncpg.connect(**target.connect_kwargs(), timeout=5)
    try:
        limit = int(await connection.fetchval("SHOW max_connections"))
        reserved = int(await connection.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await connection.close()
    # A worker's pool, plus its broker listener when PostgreSQL is the broker; one more
    # pool for a command (`python -m server …`) run beside the service.
    per_worker = settings.database_pool_size + (1 if settings.broker_kind == "postgres" else 0)
    wanted = workers * per_worker + settings.database_pool_size
    available = limit - reserved
    if wanted <= available:
        return None
    return (
        f"WEB_CONCURRENCY={workers} x DATABASE_POOL_SIZE={settings.database_pool_size} "
        f"(+ {settings.database_pool_size} for a command line) wants {wanted} connections, but "
        f"PostgreSQL at {target.endpoint} takes {available} (max_connections={limit}, "
        f"{reserved} for superusers): lower DATABASE_POOL_SIZE or WEB_CONCURRENCY, or waiters "
        "get 503 when it refuses more"
    )


async def preflight(settings: Settings, workers: int = 1) -> Preflight:
    """Wait for the store and Redis, check the schema and the connections; raises StartRefused."""
    found = Preflight()
    await wait_until_reachable(settings, found)
    try:
        await check_schema(settings)
    except StartRefused:
        raise
    except Exception as exc:
        raise StartRefused(
            f"the store at {endpoint(settings.database_url)} could not be read: "
            f"{_reason(exc, settings.secret_values())}"
        ) from None
    if settings.store_kind == "postgresql":
        warning = await connection_budget(settings, workers)
        if warning:
            found.warnings.append(warning)
    return found


def preflight_or_exit(settings: Settings, workers: int = 1) -> Preflight:
    """`preflight` on its own loop, for the launcher and the command line (before theirs)."""
    try:
        found = asyncio.run(preflight(settings, workers))
    except StartRefused as refused:
        refuse([str(refused)], prefix="cannot start")
    for warning in found.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    return found
