"""Configuration, read once at start from the environment (and `.env`) into one object.

Every value is validated here so that a bad deployment fails at boot with a message
naming the variable, never later inside a request.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("data")
DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "catalogue.json"
MIN_TOKEN_LENGTH = 32
# Any secret in live mode: PayHero's password, the metrics token, URL passwords.
MIN_SECRET = 8
DEFAULT_MAIL_FROM = "Tickets <tickets@localhost>"


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
    # REDIS_URL names any node of a Redis Cluster: sharded pub/sub, one connection per shard.
    redis_cluster: bool = False
    # Each Redis call on the request path (publish, push limits) waits at most this long.
    redis_timeout: float = 1.0
    # Long-poll hold: under the 30 s first-byte limit of common platform routers.
    wait_timeout: float = 25.0
    wait_timeout_max: float = 28.0
    # How often the hub re-reads the store for changes a lost message did not announce.
    safety_net_interval: float = 5.0
    sse_ping_interval: float = 15.0
    sse_retry_ms: int = 3000
    sse_send_timeout: float = 10.0
    sse_max_lifetime: float = 1800.0
    max_waiters: int = 20000
    max_waiters_per_order: int = 500
    sqlite_busy_timeout: float = 15.0
    # Test-only fault injection: the process kills itself (SIGKILL) at this named point.
    crash_point: str | None = None
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
    # Fulfilment: ticket codes are HMAC-signed with this key (DESIGN rule 7).
    ticket_signing_key: str = field(default="", repr=False)
    # E-mail: unset writes .eml files under DATA_DIR/outbox/; the URL may carry a password.
    smtp_url: str | None = field(default=None, repr=False)
    smtp_timeout: float = 30.0
    mail_from: str = DEFAULT_MAIL_FROM
    # The outbox worker: a slow poll beside the wake-up after each commit, retries that
    # double from `outbox_retry_base` up to `outbox_retry_max`, and a lease that outlives
    # one SMTP attempt so two processes never send the same row at the same time.
    outbox_poll_interval: float = 30.0
    outbox_retry_base: float = 5.0
    outbox_retry_max: float = 3600.0
    outbox_lease: float = 120.0
    # Processes that compose e-mails (QR images are CPU work); 0: a thread of the service.
    mail_compose_processes: int = 1

    def __post_init__(self) -> None:
        # Logs redact secrets where they sit, and only long ones anywhere else (server/logs.py);
        # a short secret is also easy to guess. So live mode refuses them.
        if self.payhero_mode == "live":
            urls = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "SMTP_URL": self.smtp_url}
            secrets = {
                "PAYHERO_API_PASSWORD": self.payhero_password,
                "METRICS_TOKEN": self.metrics_token,
                **{f"{name}'s password": urlsplit(u).password if u else None for name, u in urls.items()},
            }
            short = [name for name, value in secrets.items() if value and len(unquote(value)) < MIN_SECRET]
            if short:
                raise SettingsError(f"PAYHERO_MODE=live needs secrets of {MIN_SECRET}+ characters: {short}")

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
        if not self.redis_url:
            return "memory"
        return "redis-cluster" if self.redis_cluster else "redis"

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this process holds, for the log redaction to look for."""
        candidates = [self.callback_token, self.payhero_password, self.metrics_token, self.ticket_signing_key]
        for url in (self.database_url, self.redis_url, self.smtp_url):
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
        redis_cluster = _parse(env, "REDIS_CLUSTER", False, _bool)
        if redis_cluster and not env.get("REDIS_URL", "").strip():
            raise SettingsError("REDIS_CLUSTER=1 needs REDIS_URL: any node of the cluster")
        port = _parse(env, "PORT", 8000, _port)
        payments = _payment_settings(env, data_dir, port)
        fulfilment = _fulfilment_settings(env, data_dir)
        return cls(
            port=port,
            data_dir=data_dir,
            database_url=_parse(env, "DATABASE_URL", default_db, normalise_database_url),
            redis_url=_parse(env, "REDIS_URL", None, _redis_url),
            redis_cluster=redis_cluster,
            redis_timeout=_parse(env, "REDIS_TIMEOUT", 1.0, _positive_float),
            wait_timeout=wait_timeout,
            wait_timeout_max=wait_timeout_max,
            safety_net_interval=_parse(env, "SAFETY_NET_INTERVAL", 5.0, _positive_float),
            sse_ping_interval=_parse(env, "SSE_PING_INTERVAL", 15.0, _positive_float),
            sse_retry_ms=_parse(env, "SSE_RETRY_MS", 3000, int),
            sse_send_timeout=_parse(env, "SSE_SEND_TIMEOUT", 10.0, _positive_float),
            sse_max_lifetime=_parse(env, "SSE_MAX_LIFETIME", 1800.0, _positive_float),
            max_waiters=_parse(env, "MAX_WAITERS", 20000, _non_negative_int),
            max_waiters_per_order=_parse(env, "MAX_WAITERS_PER_ORDER", 500, _non_negative_int),
            sqlite_busy_timeout=_parse(env, "SQLITE_BUSY_TIMEOUT", 15.0, _positive_float),
            crash_point=env.get("CRASH_POINT") or None,
            log_level=log_level,
            log_format=_parse(env, "LOG_FORMAT", "text", _log_format),
            log_requests=_parse(env, "LOG_REQUESTS", False, _bool),
            **payments,
            **_ops_settings(env),
            **fulfilment,
        )


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more (0: no limit)")
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


def _kept_secret(data_dir: Path, name: str) -> str:
    """A random secret made once and kept under the data dir (0600), so that every process
    and command of this host (`simulate`, `verify-ticket`, a restart) finds the same one."""
    path = data_dir / name
    for _ in range(50):
        if path.is_file():
            token = path.read_text(encoding="utf-8").strip()
            if len(token) >= MIN_TOKEN_LENGTH:
                return token
            if token:  # too short to be ours: replace it with a real one
                path.unlink(missing_ok=True)
            else:  # another process has just created it and is writing: read again
                time.sleep(0.01)
                continue
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        # O_EXCL: of several processes starting at once exactly one writes, and the others
        # read its secret (two signing keys would make each other's tickets look forged).
        # 0600 from the first byte, never world-readable for a moment.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(token)
        return token
    raise SettingsError(f"{path} exists but holds no usable secret")


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
        "callback_token": token or _kept_secret(data_dir, "callback_token"),
        "public_base_url": public_base_url or f"http://127.0.0.1:{port}",
        "callback_max_bytes": _parse(env, "CALLBACK_MAX_BYTES", 64 * 1024, _positive_int),
        "payment_expiry": _parse(env, "PAYMENT_EXPIRY", 180.0, _positive_float),
        "expiry_check_interval": _parse(env, "EXPIRY_CHECK_INTERVAL", 15.0, _positive_float),
        "catalogue_file": Path(env.get("CATALOGUE_FILE") or DEFAULT_CATALOGUE),
    }


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


def _smtp_url(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme.lower() not in {"smtp", "smtps"} or not rest.strip("/"):
        raise ValueError("must look like smtp://user:pass@host:port or smtps://host:port")
    return raw


def _mail_from(raw: str) -> str:
    _, address = parseaddr(raw)
    if "@" not in address:
        raise ValueError("must be an address like Tickets <tickets@example.org>")
    return raw


def _fulfilment_settings(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    key = env.get("TICKET_SIGNING_KEY", "").strip()
    if key and len(key) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"TICKET_SIGNING_KEY must be at least {MIN_TOKEN_LENGTH} characters")
    retry_base = _parse(env, "OUTBOX_RETRY_BASE", 5.0, _positive_float)
    retry_max = _parse(env, "OUTBOX_RETRY_MAX", max(3600.0, retry_base), _positive_float)
    if retry_base > retry_max:
        raise SettingsError(f"OUTBOX_RETRY_BASE={retry_base} is above OUTBOX_RETRY_MAX={retry_max}")
    smtp_timeout = _parse(env, "SMTP_TIMEOUT", 30.0, _positive_float)
    lease = _parse(env, "OUTBOX_LEASE", max(120.0, 4 * smtp_timeout), _positive_float)
    if lease <= smtp_timeout:
        # A lease shorter than one attempt would let a second process send the same row.
        raise SettingsError(f"OUTBOX_LEASE={lease} must be longer than SMTP_TIMEOUT={smtp_timeout}")
    return {
        "ticket_signing_key": key or _kept_secret(data_dir, "ticket_signing_key"),
        "smtp_url": _parse(env, "SMTP_URL", None, _smtp_url),
        "smtp_timeout": smtp_timeout,
        "mail_from": _parse(env, "MAIL_FROM", DEFAULT_MAIL_FROM, _mail_from),
        "outbox_poll_interval": _parse(env, "OUTBOX_POLL_INTERVAL", 30.0, _positive_float),
        "outbox_retry_base": retry_base,
        "outbox_retry_max": retry_max,
        "outbox_lease": lease,
        "mail_compose_processes": _parse(env, "MAIL_COMPOSE_PROCESSES", 1, _non_negative_int),
    }
