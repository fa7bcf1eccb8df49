"""Configuration, read once at start from the environment (and `.env`) into one object.

Every value is validated here so that a bad deployment fails at boot with a message
naming the variable, never later inside a request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("data")
DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "catalogue.json"
MIN_TOKEN_LENGTH = 32


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
    # Not in repr: platform URLs carry the database's and Redis's passwords.
    database_url: str = field(default="", repr=False)
    redis_url: str | None = field(default=None, repr=False)
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
    # Payments (PayHero). Sandbox: the service plays PayHero and the customer.
    payhero_mode: str = "sandbox"
    payhero_base_url: str = "https://backend.payhero.co.ke"
    payhero_username: str | None = field(default=None, repr=False)
    payhero_password: str | None = field(default=None, repr=False)
    payhero_channel_id: int | None = None
    payhero_timeout: float = 15.0
    payhero_verify_callbacks: bool = False
    sandbox_delay: float = 3.0
    callback_token: str = field(default="", repr=False)
    public_base_url: str = ""
    callback_max_bytes: int = 64 * 1024
    payment_expiry: float = 180.0
    expiry_check_interval: float = 15.0
    catalogue_file: Path = DEFAULT_CATALOGUE
    # Abuse limits: STK pushes per phone number and per client address in a sliding window.
    # 0 turns a limit off (load tests need that).
    push_limit_per_phone: int = 3
    push_limit_per_ip: int = 20
    push_limit_window: float = 600.0
    # Browser origins allowed to call the API from other sites; none unless configured.
    cors_origins: tuple[str, ...] = ()
    # When set, /metrics wants `Authorization: Bearer <token>`.
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def store_kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def sandbox(self) -> bool:
        return self.payhero_mode == "sandbox"

    @property
    def callback_url(self) -> str:
        return f"{self.public_base_url}/api/payhero/callback/{self.callback_token}"

    @property
    def broker_kind(self) -> str:
        return "redis" if self.redis_url else "memory"

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this process holds, for the log redaction to look for."""
        candidates = [self.callback_token, self.payhero_password, self.metrics_token]
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password if url else None
            if password:
                candidates += [password, unquote(password)]
        return tuple(sorted({value for value in candidates if value}, key=len, reverse=True))

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
        port = _parse(env, "PORT", 8000, _port)
        payments = _payment_settings(env, data_dir, port)
        return cls(
            port=port,
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
            **payments,
            **_ops_settings(env),
        )


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number greater than 0")
    return value


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _sandbox_token(data_dir: Path) -> str:
    """A random callback secret kept under the data dir, so `simulate` can find it."""
    path = data_dir / "callback_token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= MIN_TOKEN_LENGTH:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.write_text(token, encoding="utf-8")
    path.chmod(0o600)
    return token


def _payment_settings(env: Mapping[str, str], data_dir: Path, port: int) -> dict[str, Any]:
    username = env.get("PAYHERO_API_USERNAME") or None
    password = env.get("PAYHERO_API_PASSWORD") or None
    default_mode = "live" if username and password else "sandbox"
    mode = (env.get("PAYHERO_MODE") or default_mode).strip().lower()
    if mode not in {"sandbox", "live"}:
        raise SettingsError(f"PAYHERO_MODE={mode!r} is not valid: use sandbox or live")
    channel_id = _parse(env, "PAYHERO_CHANNEL_ID", None, _positive_int)
    token = env.get("CALLBACK_TOKEN", "").strip()
    public_base_url = _parse(env, "PUBLIC_BASE_URL", "", _http_url)
    if mode == "live":
        missing = [
            name
            for name, value in [
                ("PAYHERO_API_USERNAME", username),
                ("PAYHERO_API_PASSWORD", password),
                ("PAYHERO_CHANNEL_ID", channel_id),
                ("PUBLIC_BASE_URL", public_base_url),
                ("CALLBACK_TOKEN", token),
            ]
            if not value
        ]
        if missing:
            raise SettingsError(f"PAYHERO_MODE=live needs {', '.join(missing)}")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"CALLBACK_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
    return {
        "payhero_mode": mode,
        "payhero_base_url": _parse(env, "PAYHERO_BASE_URL", "https://backend.payhero.co.ke", _http_url),
        "payhero_username": username,
        "payhero_password": password,
        "payhero_channel_id": channel_id,
        "payhero_timeout": _parse(env, "PAYHERO_TIMEOUT", 15.0, _positive_float),
        "payhero_verify_callbacks": _parse(env, "PAYHERO_VERIFY_CALLBACKS", False, _bool),
        "sandbox_delay": _parse(env, "SANDBOX_DELAY", 3.0, _non_negative_float),
        "callback_token": token or _sandbox_token(data_dir),
        "public_base_url": public_base_url or f"http://127.0.0.1:{port}",
        "callback_max_bytes": _parse(env, "CALLBACK_MAX_BYTES", 64 * 1024, _positive_int),
        "payment_expiry": _parse(env, "PAYMENT_EXPIRY", 180.0, _positive_float),
        "expiry_check_interval": _parse(env, "EXPIRY_CHECK_INTERVAL", 15.0, _positive_float),
        "catalogue_file": Path(env.get("CATALOGUE_FILE") or DEFAULT_CATALOGUE),
    }


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more (0 turns the limit off)")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = []
    for item in raw.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        if origin != "*":
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        origins.append(origin)
    return tuple(origins)


def _ops_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "push_limit_per_phone": _parse(env, "PUSH_LIMIT_PER_PHONE", 3, _non_negative_int),
        "push_limit_per_ip": _parse(env, "PUSH_LIMIT_PER_IP", 20, _non_negative_int),
        "push_limit_window": _parse(env, "PUSH_LIMIT_WINDOW", 600.0, _positive_float),
        "cors_origins": _parse(env, "CORS_ORIGINS", tuple[str, ...](), _origins),
        "metrics_token": env.get("METRICS_TOKEN", "").strip() or None,
    }
