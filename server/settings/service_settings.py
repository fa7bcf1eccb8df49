"""The service's own variables: where it listens and keeps data, its store and broker, the held
requests' limits and the logs. Payments, abuse limits and fulfilment are in `server/settings.py`,
whose `Settings` extends these (their fields come first, so later defaults may derive from them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.config import Config

from server.settings.declarations import (
    declared_settings,
    non_negative_int,
    one_of,
    port_range,
    positive,
    positive_int,
    var,
)
from server.settings.formats import normalise_database_url, redis_url


@declared_settings
class ServiceSettings:
    port: int = var("PORT", default=8000, check=port_range, doc="where the Procfile's web process listens")
    data_dir: Path = var(
        "DATA_DIR",
        default=Path("data"),
        doc="where the SQLite file and other local state live; made private to the service's user "
        "(0700, files 0600)",
    )
    # Secret: platform URLs carry the database's and Redis's passwords.
    database_url: str = var(
        "DATABASE_URL",
        default="sqlite+aiosqlite:///data/payments.sqlite3",
        derive=lambda v: f"sqlite+aiosqlite:///{v.of('data_dir', Path) / 'payments.sqlite3'}",
        parse=normalise_database_url,
        check=normalise_database_url,
        secret=True,
        shown="`sqlite+aiosqlite:///$DATA_DIR/payments.sqlite3`",
        doc="`sqlite+aiosqlite:///…` or `postgres(ql)://…`",
    )
    redis_url: str | None = var(
        "REDIS_URL",
        default=None,
        parse=redis_url,
        check=redis_url,
        secret=True,
        shown="unset: in-process broker",
        doc="`redis://…` / `rediss://…`",
    )
    redis_cluster: bool = var(
        "REDIS_CLUSTER",
        default=False,
        doc="`1`: `REDIS_URL` names any node of a Redis Cluster; status channels use sharded pub/sub, "
        "one subscriber connection per shard per process",
    )
    redis_timeout: float = var(
        "REDIS_TIMEOUT",
        default=1.0,
        check=positive,
        doc="seconds a Redis call on the request path (publish, push limits) may take; past it Redis "
        "is skipped for 5 x this, and answers come through the store",
    )
    # Long-poll hold: under the 30 s first-byte limit of common platform routers.
    wait_timeout: float = var(
        "WAIT_TIMEOUT", default=25.0, check=positive, doc="default long-poll hold, seconds"
    )
    wait_timeout_max: float = var(
        "WAIT_TIMEOUT_MAX",
        default=28.0,
        derive=lambda v: max(28.0, v.of("wait_timeout", float)),
        check=positive,
        shown="`28` (at least `WAIT_TIMEOUT`)",
        doc="the server's cap on a requested hold",
    )
    safety_net_interval: float = var(
        "SAFETY_NET_INTERVAL",
        default=5.0,
        check=positive,
        doc="seconds between the hub's re-reads of recently changed orders",
    )
    sse_ping_interval: float = var(
        "SSE_PING_INTERVAL", default=15.0, check=positive, doc="seconds between SSE keep-alive comments"
    )
    sse_retry_ms: int = var("SSE_RETRY_MS", default=3000, doc="the `retry:` hint sent first on every stream")
    sse_send_timeout: float = var(
        "SSE_SEND_TIMEOUT",
        default=10.0,
        check=positive,
        doc="a stream whose client stops reading is dropped after this many seconds blocked",
    )
    sse_max_lifetime: float = var(
        "SSE_MAX_LIFETIME",
        default=1800.0,
        check=positive,
        doc="a stream is ended after this long; the browser reconnects with `Last-Event-ID`",
    )
    max_waiters: int = var(
        "MAX_WAITERS",
        default=20000,
        check=non_negative_int,
        doc="past this a new waiter gets 503 with `Retry-After` (`0`: no cap)",
    )
    max_waiters_per_order: int = var(
        "MAX_WAITERS_PER_ORDER",
        default=500,
        check=non_negative_int,
        doc="waiters on one order; past it a new one gets 503 with `Retry-After` (`0`: no cap)",
    )
    max_waiters_per_client: int = var(
        "MAX_WAITERS_PER_CLIENT",
        default=200,
        check=non_negative_int,
        doc="held `/wait` and SSE requests one client address (as resolved through "
        "`FORWARDED_ALLOW_IPS`) may have in one process; past it `429 too_many_waiters` with "
        "`Retry-After` (`0`: no cap)",
    )
    max_waiters_per_client_order: int = var(
        "MAX_WAITERS_PER_CLIENT_ORDER",
        default=10,
        check=non_negative_int,
        doc="held `/wait` and SSE requests one client address may have on one order, counted before "
        "`MAX_WAITERS_PER_CLIENT`, so one client piling waiters on its own orders does not use up "
        "its neighbours' share behind the same address; past it `429 too_many_waiters` (`0`: no cap)",
    )
    database_pool_size: int = var(
        "DATABASE_POOL_SIZE",
        default=20,
        check=positive_int,
        doc="PostgreSQL connections one process may open; keep `WEB_CONCURRENCY` x this under the "
        "server's `max_connections`, or waiters get 503 when it refuses more",
    )
    database_statement_timeout: float = var(
        "DATABASE_STATEMENT_TIMEOUT",
        default=5.0,
        check=positive,
        doc="seconds one PostgreSQL statement may run (waiting on locks included) before the request "
        "gets a JSON 503 with `Retry-After`; a hung server or network is cut a second later",
    )
    database_acquire_timeout: float = var(
        "DATABASE_ACQUIRE_TIMEOUT",
        default=5.0,
        check=positive,
        doc="seconds a request waits for a PostgreSQL pool connection (opening one included) before "
        "its JSON 503",
    )
    startup_wait: float = var(
        "STARTUP_WAIT",
        default=30.0,
        check=positive,
        doc="seconds the start waits for PostgreSQL and Redis to answer (platforms start them in any "
        "order); past it, one line naming the host and port: exit 2 for PostgreSQL, a warning for "
        "Redis (the service starts without it)",
    )
    sqlite_busy_timeout: float = var(
        "SQLITE_BUSY_TIMEOUT",
        default=15.0,
        check=positive,
        doc="seconds a SQLite writer waits for the lock before the request gets a JSON 503",
    )
    header_timeout: float = var(
        "HEADER_TIMEOUT",
        default=10.0,
        check=positive,
        doc="seconds a connection may take to send a request's headers (from its opening or its last "
        "response); slower ones are closed (slowloris). Applied by `python -m server.launcher`, the "
        "Procfile's command",
    )
    body_timeout: float = var(
        "BODY_TIMEOUT",
        default=30.0,
        check=positive,
        doc="seconds a request's body may take to arrive once its headers are in; slower ones are "
        "closed (slow bodies). Applied by `python -m server.launcher`, as `HEADER_TIMEOUT`",
    )
    max_connections_per_client: int = var(
        "MAX_CONNECTIONS_PER_CLIENT",
        default=64,
        check=non_negative_int,
        doc="open connections one client address (IPv6: its /64) may hold to one process, counted "
        "for peers `FORWARDED_ALLOW_IPS` does not trust (a proxy in front carries many clients); "
        "`0` turns it off. Applied by `python -m server.launcher`",
    )
    crash_point: str | None = var(
        "CRASH_POINT",
        default=None,
        parse=str,
        doc="test-only fault injection: the process SIGKILLs itself at that point",
    )
    log_level: str = var(
        "LOG_LEVEL",
        default="INFO",
        parse=str.upper,
        check=one_of("DEBUG", "INFO", "WARNING", "ERROR"),
        doc="`DEBUG`, `INFO`, `WARNING` or `ERROR`",
    )
    log_format: str = var(
        "LOG_FORMAT",
        default="text",
        check=one_of("text", "json"),
        doc="`json` for one JSON object per line (the service's, uvicorn's and httpx's lines)",
    )
    log_requests: bool = var(
        "LOG_REQUESTS",
        default=False,
        doc="one structured line per request: method, route template, status, duration",
    )


class _DotEnv(Config):
    """Starlette's `.env` reading, which also takes the shell's `export KEY=value` lines."""

    def _read_file(self, file_name: str | Path, encoding: str) -> dict[str, str]:
        read = super()._read_file(file_name, encoding)
        return {key.removeprefix("export ").strip(): value for key, value in read.items()}


def env_lookup(environ: Mapping[str, str], dotenv: Path | None) -> Callable[[str], str | None]:
    # Starlette warns about a missing file; no `.env` is the usual case in production.
    config = _DotEnv(dotenv if dotenv is not None and dotenv.is_file() else None, environ=environ)

    def lookup(name: str) -> str | None:
        found: Any = config.get(name, default=None)
        return None if found is None else str(found)

    return lookup
