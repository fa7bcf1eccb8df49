"""Rules between variables, checked on every `Settings` (from the environment or overrides).

Each message names the variables involved, as a bad single value's does.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import unquote, urlsplit

from server.settings.declarations import SettingsError


class Settings(Protocol):
    """The variables the rules read, as `server.settings.Settings` has them (named here so
    that this module does not import the one that imports it)."""

    @property
    def database_url(self) -> str: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_cluster(self) -> bool: ...
    @property
    def wait_timeout(self) -> float: ...
    @property
    def wait_timeout_max(self) -> float: ...
    @property
    def payhero_mode(self) -> str: ...
    @property
    def payhero_username(self) -> str | None: ...
    @property
    def payhero_password(self) -> str | None: ...
    @property
    def payhero_channel_id(self) -> int | None: ...
    @property
    def payhero_timeout(self) -> float: ...
    @property
    def prompt_window(self) -> float: ...
    @property
    def payment_expiry(self) -> float: ...
    @property
    def callback_token(self) -> str: ...
    @property
    def public_base_url(self) -> str: ...
    @property
    def metrics_token(self) -> str | None: ...
    @property
    def smtp_url(self) -> str | None: ...
    @property
    def ticket_signing_key(self) -> str: ...
    @property
    def ticket_signing_keys(self) -> tuple[str, ...]: ...
    @property
    def cors_origins(self) -> tuple[str, ...]: ...
    @property
    def forwarded_allow_ips(self) -> tuple[str, ...]: ...
    @property
    def smtp_timeout(self) -> float: ...
    @property
    def outbox_lease(self) -> float: ...
    @property
    def outbox_retry_base(self) -> float: ...
    @property
    def outbox_retry_max(self) -> float: ...


# Any secret in live mode: PayHero's password, the metrics token, URL passwords.
MIN_SECRET = 8


def check_rules(s: Settings) -> None:
    """Raise one SettingsError naming every rule broken, each on a line of its own."""
    problems = rule_problems(s)
    if problems:
        raise SettingsError(*problems)


def rule_problems(s: Settings) -> list[str]:
    problems = [
        *_live_needs_credentials(s),
        *_expiry_leaves_room(s),
        *_live_secrets_are_long(s),
        *_live_refuses_wildcards(s),
        *_signing_keys_agree(s),
    ]
    if s.wait_timeout > s.wait_timeout_max:
        problems.append(f"WAIT_TIMEOUT={s.wait_timeout} is above WAIT_TIMEOUT_MAX={s.wait_timeout_max}")
    if s.outbox_retry_base > s.outbox_retry_max:
        problems.append(
            f"OUTBOX_RETRY_BASE={s.outbox_retry_base} is above OUTBOX_RETRY_MAX={s.outbox_retry_max}"
        )
    if s.outbox_lease <= s.smtp_timeout:
        # A lease shorter than one attempt would let a second process send the same row.
        problems.append(f"OUTBOX_LEASE={s.outbox_lease} must be longer than SMTP_TIMEOUT={s.smtp_timeout}")
    if s.redis_cluster and not s.redis_url:
        problems.append("REDIS_CLUSTER=1 needs REDIS_URL: any node of the cluster")
    return problems


def _credentials(s: Settings) -> list[tuple[str, object]]:
    return [
        ("PAYHERO_API_USERNAME", s.payhero_username),
        ("PAYHERO_API_PASSWORD", s.payhero_password),
        ("PAYHERO_CHANNEL_ID", s.payhero_channel_id),
    ]


def credentials_need_live(s: Settings) -> None:
    """Half a set of credentials used to fall back to the sandbox silently: every order "paid",
    genuine tickets, no money. Credentials without the mode are refused instead.

    Checked on the environment only (`Settings.from_env`): it guards an operator's mistake,
    and tests give a sandbox a PayHero password on purpose, to see the logs redact it."""
    if s.payhero_mode == "live":
        return
    present = [name for name, value in _credentials(s) if value]
    if present:
        raise SettingsError(
            f"{present[0]} is set but PAYHERO_MODE is {s.payhero_mode}: set PAYHERO_MODE=live "
            "to take real payments, or unset the PayHero credentials for the sandbox"
        )


def _live_needs_credentials(s: Settings) -> list[str]:
    if s.payhero_mode != "live":
        return []
    needed = [*_credentials(s), ("PUBLIC_BASE_URL", s.public_base_url)]
    missing = [name for name, value in needed if not value]
    problems = [f"PAYHERO_MODE=live needs {', '.join(missing)}"] if missing else []
    # The secrets a host would otherwise make once into DATA_DIR (kept_secrets.py): on a
    # platform's ephemeral disk every restart and every second dyno would make new ones, and
    # tickets sold before would fail at the gate, PayHero's callbacks would get 404.
    kept = [
        ("CALLBACK_TOKEN", s.callback_token, "PayHero's callback URL would change"),
        (
            "TICKET_SIGNING_KEY",
            s.ticket_signing_key or s.ticket_signing_keys,
            "tickets sold before would stop scanning",
        ),
    ]
    for name, value, loss in kept:
        if not value:
            problems.append(
                f"PAYHERO_MODE=live needs {name}: without it one is made into DATA_DIR, which a "
                f"platform's disk does not keep across restarts, and {loss}"
            )
    return problems


def _live_refuses_wildcards(s: Settings) -> list[str]:
    # Believing every peer's X-Forwarded-For lets anyone choose the address the abuse limits
    # count; any origin calling the API from its pages is not what a shop means.
    if s.payhero_mode != "live":
        return []
    problems = []
    if "*" in s.forwarded_allow_ips:
        problems.append(
            "FORWARDED_ALLOW_IPS=* is refused in live mode: name the platform router's addresses or networks"
        )
    if "*" in s.cors_origins:
        problems.append("CORS_ORIGINS=* is refused in live mode: name the shop's origins")
    return problems


def _signing_keys_agree(s: Settings) -> list[str]:
    # TICKET_SIGNING_KEYS is the rotation form (sign with the first, verify with any); with
    # both set, the single key must be its first, or two processes would sign differently.
    keys = s.ticket_signing_keys
    if keys and s.ticket_signing_key and s.ticket_signing_key != keys[0]:
        return ["set TICKET_SIGNING_KEY or TICKET_SIGNING_KEYS, not both"]
    return []


def _expiry_leaves_room(s: Settings) -> list[str]:
    room = s.payhero_timeout + s.prompt_window
    if s.payment_expiry < room:
        # Expiring sooner would give up on a push still waiting for PayHero's answer, or a
        # prompt still open on the customer's phone: a payment made then would land late.
        return [
            f"PAYMENT_EXPIRY={s.payment_expiry:g} is too short: it must leave room for PAYHERO_TIMEOUT "
            f"({s.payhero_timeout:g}) and the prompt's window PROMPT_WINDOW ({s.prompt_window:g}), "
            f"so at least {room:g}"
        ]
    return []


def _live_secrets_are_long(s: Settings) -> list[str]:
    # Logs redact secrets where they sit, and only long ones anywhere else (server/logs.py);
    # a short secret is also easy to guess. So live mode refuses them.
    if s.payhero_mode != "live":
        return []
    urls = {"DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url, "SMTP_URL": s.smtp_url}
    secrets = {
        "PAYHERO_API_PASSWORD": s.payhero_password,
        "METRICS_TOKEN": s.metrics_token,
        **{f"{name}'s password": urlsplit(u).password if u else None for name, u in urls.items()},
    }
    short = [name for name, value in secrets.items() if value and len(unquote(value)) < MIN_SECRET]
    if short:
        return [f"PAYHERO_MODE=live needs secrets of {MIN_SECRET}+ characters: {short}"]
    return []
