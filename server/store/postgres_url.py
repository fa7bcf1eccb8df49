"""DATABASE_URL's libpq TLS options as asyncpg's `ssl` argument.

`databases` hands asyncpg the host, user and database of the URL and, of its query, only
`ssl`, `min_size` and `max_size`: libpq's `sslmode=verify-full&sslrootcert=…` were dropped
and the connection fell back to asyncpg's default (`prefer`, no certificate check). So the
query is taken off the URL here and turned into an `ssl` value asyncpg understands; the
settings (server/settings/formats.py) have already refused any other option.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from ssl import SSLContext
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from server.broker.base import PostgresConnect


@dataclass(frozen=True)
class PostgresTarget:
    """Where to connect and how, for the pool, the broker's listener and the start-up checks."""

    url: str  # without its query: what `databases` is given
    host: str
    port: int
    user: str | None
    password: str | None
    database: str | None
    ssl: bool | str | SSLContext  # False, "prefer", "allow", or an SSLContext (TLS required)

    def connect_kwargs(self) -> PostgresConnect:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "ssl": self.ssl,
        }

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def ssl_argument(options: dict[str, str]) -> bool | str | SSLContext:
    """libpq's semantics: `require` encrypts without checking, unless a root certificate is
    given (then it checks the chain, as `verify-ca`); `verify-full` checks the name too."""
    mode = options.get("sslmode", "prefer")
    if mode == "disable":
        return False
    if mode in {"allow", "prefer"}:
        return mode
    root = options.get("sslrootcert")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if mode == "require" and not root:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if root:
            context.load_verify_locations(cafile=root)
        else:
            context.load_default_certs()
        context.check_hostname = mode == "verify-full"
        context.verify_mode = ssl.CERT_REQUIRED
    if "sslcert" in options:
        context.load_cert_chain(options["sslcert"], options.get("sslkey"))
    return context


def postgres_target(url: str) -> PostgresTarget:
    """What `url` connects to, with its TLS options as asyncpg's `ssl` (libpq's `sslmode` and files)."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    return PostgresTarget(
        url=urlunsplit(parts._replace(query="")),
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=parts.path.lstrip("/") or None,
        ssl=ssl_argument(options),
    )
