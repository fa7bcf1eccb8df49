"""Configuration, read once at start from the environment (and `.env`) into one object.

Every value is validated here so that a bad deployment fails at boot with a message
naming the variable, never later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("data")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def load_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _parse(env: Mapping[str, str], name: str, default: T, convert: Callable[[str], T]) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return convert(raw.strip())
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from None


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number greater than 0")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be between 1 and 65535")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


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


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def _log_format(raw: str) -> str:
    if raw not in {"text", "json"}:
        raise ValueError("must be text or json")
    return raw


@dataclass(frozen=True)
class Settings:
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    redis_url: str | None = None
    # Long-poll hold: under the 30 s first-byte limit of common platform routers.
    wait_timeout: float = 25.0
    wait_timeout_max: float = 28.0
    # How often the hub re-reads the store for changes a lost message did not announce.
    safety_net_interval: float = 5.0
    sse_ping_interval: float = 15.0
    sse_retry_ms: int = 3000
    log_level: str = "INFO"
    log_format: str = "text"
    log_requests: bool = False

    @property
    def store_kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def broker_kind(self) -> str:
        return "redis" if self.redis_url else "memory"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from `environ` (default: the process environment) over `.env`."""
        env: dict[str, str] = load_dotenv(dotenv) if dotenv is not None else {}
        env.update(os.environ if environ is None else environ)

        data_dir = Path(env.get("DATA_DIR") or DEFAULT_DATA_DIR)
        default_db = f"sqlite+aiosqlite:///{data_dir / 'payments.sqlite3'}"
        wait_timeout = _parse(env, "WAIT_TIMEOUT", 25.0, _positive_float)
        wait_timeout_max = _parse(env, "WAIT_TIMEOUT_MAX", max(28.0, wait_timeout), _positive_float)
        if wait_timeout > wait_timeout_max:
            raise SettingsError(f"WAIT_TIMEOUT={wait_timeout} is above WAIT_TIMEOUT_MAX={wait_timeout_max}")
        log_level = env.get("LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(f"LOG_LEVEL={log_level!r} is not valid: use DEBUG, INFO, WARNING or ERROR")
        return cls(
            port=_parse(env, "PORT", 8000, _port),
            data_dir=data_dir,
            database_url=_parse(env, "DATABASE_URL", default_db, normalise_database_url),
            redis_url=_parse(env, "REDIS_URL", None, _redis_url),
            wait_timeout=wait_timeout,
            wait_timeout_max=wait_timeout_max,
            safety_net_interval=_parse(env, "SAFETY_NET_INTERVAL", 5.0, _positive_float),
            sse_ping_interval=_parse(env, "SSE_PING_INTERVAL", 15.0, _positive_float),
            sse_retry_ms=_parse(env, "SSE_RETRY_MS", 3000, int),
            log_level=log_level,
            log_format=_parse(env, "LOG_FORMAT", "text", _log_format),
            log_requests=_parse(env, "LOG_REQUESTS", False, _bool),
        )
