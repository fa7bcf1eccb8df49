"""The formats of single variables: URLs, origins, tokens, addresses (each raises ValueError)."""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

MIN_GATE_TOKEN_LENGTH = 16


# libpq's TLS options, mapped onto asyncpg's `ssl` argument by server/store/postgres_url.py.
# Any other option in DATABASE_URL is refused: silently ignored, `sslmode=verify-full` once
# connected without checking the certificate (issue 19).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
POSTGRES_FILE_OPTIONS = ("sslrootcert", "sslcert", "sslkey")
POSTGRES_OPTIONS = ("sslmode", *POSTGRES_FILE_OPTIONS)
# redis-py's TLS options (and `db`); others are refused for the same reason.
REDIS_FILE_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
REDIS_OPTIONS = ("db", "ssl_cert_reqs", "ssl_check_hostname", *REDIS_FILE_OPTIONS)
SSL_CERT_REQS = ("none", "optional", "required")


def url_options(raw: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(raw).query, keep_blank_values=True))


def _known_options(options: dict[str, str], known: tuple[str, ...], files: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"the option {', '.join(unknown)} is not understood (honoured: {', '.join(known) or 'none'})"
        )
    for name in files:
        if name in options and not Path(options[name]).is_file():
            raise ValueError(f"{name}: no file at {options[name]}")


def normalise_database_url(raw: str) -> str:
    """Accept the URL forms platforms hand out and name the async driver explicitly."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise ValueError("must look like sqlite+aiosqlite:///path or postgresql://host/db")
    scheme = scheme.lower()
    options = url_options(raw)
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        _known_options(options, POSTGRES_OPTIONS, POSTGRES_FILE_OPTIONS)
        if options.get("sslmode", "prefer") not in SSL_MODES:
            raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")
        return f"postgresql+asyncpg://{rest}"
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        _known_options(options, (), ())
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError("only SQLite (sqlite+aiosqlite://) and PostgreSQL (postgresql://) are supported")


def redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    options = url_options(raw)
    _known_options(options, REDIS_OPTIONS, REDIS_FILE_OPTIONS)
    if options.get("ssl_cert_reqs", "required") not in SSL_CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(SSL_CERT_REQS)}")
    if options.get("ssl_check_hostname", "true").lower() not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError("ssl_check_hostname must be true or false")
    if any(name.startswith("ssl_") for name in options) and not raw.startswith("rediss://"):
        raise ValueError("ssl_* options need a rediss:// URL")
    return raw


def endpoint(url: str) -> str:
    """`host:port` of a URL, never its password: what a refusal to start may name."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return parts.path.lstrip("/") or ":memory:"
    if parts.scheme == "unix":
        return parts.path
    default = 6379 if parts.scheme.startswith("redis") else 5432
    return f"{parts.hostname or 'localhost'}:{parts.port or default}"


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


def named_tokens(raw: str) -> tuple[tuple[str, str], ...]:
    """`alice:TOKEN,bob:TOKEN2`: each token with the name its actions are recorded under."""
    found = []
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, token = item.strip().partition(":")
        if not sep or not name.strip() or not token.strip():
            raise ValueError("each comma-separated entry must be name:token, e.g. alice:TOKEN")
        found.append((name.strip(), token.strip()))
    return tuple(found)


def long_named_tokens(tokens: tuple[tuple[str, str], ...]) -> None:
    # A desk token completes payments and reads customers' details: not to be guessed.
    long_gate_tokens(tuple(token for _, token in tokens))
    names = [name for name, _ in tokens]
    if len(set(names)) != len(names):
        raise ValueError("each name may appear once: it is who an action is recorded as")
    if any(
        len(name) > 32 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
        for name in names
    ):
        raise ValueError("a name is up to 32 letters, digits, '.', '-' or '_'")


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
