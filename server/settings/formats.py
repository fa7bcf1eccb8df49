"""The formats of single variables: URLs, origins, tokens, addresses (each raises ValueError)."""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from urllib.parse import urlsplit

MIN_GATE_TOKEN_LENGTH = 16


def normalise_database_url(raw: str) -> str:
    """Accept the URL forms platforms hand out and name the async driver explicitly."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise ValueError("must look like sqlite+aiosqlite:///path or postgresql://host/db")
    scheme = scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError("only SQLite (sqlite+aiosqlite://) and PostgreSQL (postgresql://) are supported")


def redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def origins(raw: str) -> tuple[str, ...]:
    found = []
    for item in raw.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        if origin != "*":
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        found.append(origin)
    return tuple(found)


def gate_tokens(raw: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in raw.split(",") if token.strip())


def long_gate_tokens(tokens: tuple[str, ...]) -> None:
    # A gate token lets its holder burn anyone's ticket: long enough not to be guessed.
    if any(len(token) < MIN_GATE_TOKEN_LENGTH for token in tokens):
        raise ValueError(f"each comma-separated token must be at least {MIN_GATE_TOKEN_LENGTH} characters")


def comma_separated(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def long_signing_keys(keys: tuple[str, ...]) -> None:
    # Same length as TICKET_SIGNING_KEY's (declarations.MIN_TOKEN_LENGTH).
    if any(len(key) < 32 for key in keys):
        raise ValueError("each comma-separated key must be at least 32 characters")


def smtp_url(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme.lower() not in {"smtp", "smtps"} or not rest.strip("/"):
        raise ValueError("must look like smtp://user:pass@host:port or smtps://host:port")
    return raw


def mail_from(raw: str) -> str:
    _, address = parseaddr(raw)
    if "@" not in address:
        raise ValueError("must be an address like Tickets <tickets@example.org>")
    return raw


def callback_shape(raw: str) -> str:
    if raw not in {"v2", "flat"}:
        raise ValueError("must be v2 (PayHero's nested callback) or flat (API 2.0)")
    return raw


# Loopback, RFC 1918, carrier-grade NAT (RFC 6598: some platforms' internal networks),
# link-local, and IPv6 unique-local and link-local.
DEFAULT_TRUSTED: tuple[str, ...] = (
    "127.0.0.0/8",
    "::1",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)


def parse_trusted(raw: str) -> tuple[str, ...]:
    """FORWARDED_ALLOW_IPS as uvicorn reads it: addresses, networks, `*`, or literals
    (a Unix socket's path); a malformed address is an error, not a literal."""
    entries = tuple(item.strip() for item in raw.split(",") if item.strip())
    for entry in entries:
        if entry != "*" and not entry.startswith(("/", "unix:")):
            ipaddress.ip_network(entry, strict=False)  # ValueError names the entry
    return entries
