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
    _live_needs_credentials(s)
    _expiry_leaves_room(s)
    if s.wait_timeout > s.wait_timeout_max:
        raise SettingsError(f"WAIT_TIMEOUT={s.wait_timeout} is above WAIT_TIMEOUT_MAX={s.wait_timeout_max}")
    if s.outbox_retry_base > s.outbox_retry_max:
        raise SettingsError(
            f"OUTBOX_RETRY_BASE={s.outbox_retry_base} is above OUTBOX_RETRY_MAX={s.outbox_retry_max}"
        )
    if s.outbox_lease <= s.smtp_timeout:
        # A lease shorter than one attempt would let a second process send the same row.
        raise SettingsError(
            f"OUTBOX_LEASE={s.outbox_lease} must be longer than SMTP_TIMEOUT={s.smtp_timeout}"
        )
    _live_secrets_are_long(s)
    if s.redis_cluster and not s.redis_url:
        raise SettingsError("REDIS_CLUSTER=1 needs REDIS_URL: any node of the cluster")


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


def _live_needs_credentials(s: Settings) -> None:
    if s.payhero_mode != "live":
        return
    needed = [*_credentials(s), ("PUBLIC_BASE_URL", s.public_base_url), ("CALLBACK_TOKEN", s.callback_token)]
    missing = [name for name, value in needed if not value]
    if missing:
        raise SettingsError(f"PAYHERO_MODE=live needs {', '.join(missing)}")


def _expiry_leaves_room(s: Settings) -> None:
    room = s.payhero_timeout + s.prompt_window
    if s.payment_expiry < room:
        # Expiring sooner would give up on a push still waiting for PayHero's answer, or a
        # prompt still open on the customer's phone: a payment made then would land late.
        raise SettingsError(
            f"PAYMENT_EXPIRY={s.payment_expiry:g} is too short: it must leave room for PAYHERO_TIMEOUT "
            f"({s.payhero_timeout:g}) and the prompt's window PROMPT_WINDOW ({s.prompt_window:g}), "
            f"so at least {room:g}"
        )


def _live_secrets_are_long(s: Settings) -> None:
    # Logs redact secrets where they sit, and only long ones anywhere else (server/logs.py);
    # a short secret is also easy to guess. So live mode refuses them.
    if s.payhero_mode != "live":
        return
    urls = {"DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url, "SMTP_URL": s.smtp_url}
    secrets = {
        "PAYHERO_API_PASSWORD": s.payhero_password,
        "METRICS_TOKEN": s.metrics_token,
        **{f"{name}'s password": urlsplit(u).password if u else None for name, u in urls.items()},
    }
    short = [name for name, value in secrets.items() if value and len(unquote(value)) < MIN_SECRET]
    if short:
        raise SettingsError(f"PAYHERO_MODE=live needs secrets of {MIN_SECRET}+ characters: {short}")
