"""Configuration, read once at start from the environment (and `.env`) into one object.

Each variable is declared once, by a `var(...)` below: its name, default, converter, bound,
secrecy and one line for docs/SETTINGS.md's table (`make settings-doc`). Every `Settings`, from
the environment or from `with_overrides`, is checked against the declarations and the rules
between variables (`server/settings/rules.py`), so a bad deployment fails at boot with a
message naming the variable, never later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from server.settings.declarations import (
    SettingsError,
    check_all,
    declared,
    declared_settings,
    http_url,
    long_token,
    non_negative,
    non_negative_int,
    one_of,
    parse_each,
    positive,
    positive_int,
    var,
)
from server.settings.formats import (
    DEFAULT_TRUSTED,
    callback_shape,
    comma_separated,
    gate_tokens,
    long_gate_tokens,
    long_named_tokens,
    long_signing_keys,
    mail_from,
    named_tokens,
    normalise_database_url,
    origins,
    parse_trusted,
    smtp_url,
)
from server.settings.kept_secrets import kept_secret
from server.settings.rules import credentials_need_live, rule_problems
from server.settings.service_settings import ServiceSettings, env_lookup

__all__ = ["Settings", "SettingsError", "normalise_database_url"]

DEFAULT_CATALOGUE = Path(__file__).parent.parent / "data" / "catalogue.json"


def _text_list(values: tuple[str, ...]) -> str:
    return ", ".join(values)


@declared_settings
class Settings(ServiceSettings):
    # Payments (PayHero). Sandbox: the service plays PayHero and the customer.
    payhero_mode: str = var(
        "PAYHERO_MODE",
        default="sandbox",
        parse=str.lower,
        check=one_of("sandbox", "live"),
        doc="`live` takes real payments and refuses to start without the PayHero credentials, "
        "`PUBLIC_BASE_URL` and `CALLBACK_TOKEN`, or with any secret (PayHero password, "
        "`METRICS_TOKEN`, a URL's password) shorter than 8 characters; any PayHero credential set "
        "without `live` refuses to start too",
    )
    payhero_base_url: str = var(
        "PAYHERO_BASE_URL",
        default="https://backend.payhero.co.ke",
        parse=http_url,
        check=http_url,
        doc="PayHero's API",
    )
    payhero_username: str | None = var(
        "PAYHERO_API_USERNAME",
        default=None,
        parse=str,
        secret=True,
        doc="PayHero Basic-auth user (never logged)",
    )
    payhero_password: str | None = var(
        "PAYHERO_API_PASSWORD",
        default=None,
        parse=str,
        secret=True,
        doc="PayHero Basic-auth password (never logged)",
    )
    payhero_channel_id: int | None = var(
        "PAYHERO_CHANNEL_ID",
        default=None,
        parse=int,
        check=positive_int,
        doc="the merchant's payment channel",
    )
    payhero_timeout: float = var(
        "PAYHERO_TIMEOUT",
        default=15.0,
        check=positive,
        doc="seconds before a PayHero call gives up; a push then has an unknown outcome (the order "
        "stays `processing`). Keep it under the Procfile's 25 s graceful window",
    )
    payhero_max_connections: int = var(
        "PAYHERO_MAX_CONNECTIONS",
        default=256,
        check=positive_int,
        doc="connections to PayHero at once; a push holds one until PayHero answers, so a sale needs "
        "about checkouts per second times PayHero's answer time (docs/OPERATIONS.md)",
    )
    payhero_pool_timeout: float = var(
        "PAYHERO_POOL_TIMEOUT",
        default=5.0,
        check=positive,
        doc="seconds a PayHero call waits for a free connection; a push that gets none was not sent: "
        "its outcome is unknown (the order stays `processing`, the customer can send it again)",
    )
    payhero_verify_callbacks: bool = var(
        "PAYHERO_VERIFY_CALLBACKS", default=False, doc="ask transaction-status before believing a success"
    )
    payhero_callback_shape: str = var(
        "PAYHERO_CALLBACK_SHAPE",
        default="v2",
        parse=callback_shape,
        check=callback_shape,
        doc="the sandbox's callbacks: `v2` (nested `response`) or `flat` (PayHero API 2.0)",
    )
    # How long M-PESA keeps an STK prompt open on the phone (docs/PAYHERO.md).
    prompt_window: float = var(
        "PROMPT_WINDOW",
        default=60.0,
        check=positive,
        doc="seconds an STK prompt stays open on the phone: `prompt_expires_at`, and when "
        '"send again" is allowed',
    )
    sandbox_delay: float = var(
        "SANDBOX_DELAY", default=3.0, check=non_negative, doc="seconds before the sandbox customer answers"
    )
    callback_token: str = var(
        "CALLBACK_TOKEN",
        default="",
        check=long_token,
        secret=True,
        shown="random, kept in `DATA_DIR/callback_token` (sandbox)",
        doc="the secret in the callback URL, 32+ characters; required in live",
    )
    public_base_url: str = var(
        "PUBLIC_BASE_URL",
        default="http://127.0.0.1:8000",
        # Live mode must be told; an unset one is refused there (settings_rules.py).
        derive=lambda v: (
            "" if v.of("payhero_mode", str) == "live" else f"http://127.0.0.1:{v.of('port', int)}"
        ),
        parse=http_url,
        check=lambda url: url and http_url(url),
        shown="`http://127.0.0.1:$PORT`",
        doc="how PayHero reaches us (the callback URL is built from it) and where e-mails link to "
        "(the ticket page, the calendar file, QR images)",
    )
    callback_max_bytes: int = var(
        "CALLBACK_MAX_BYTES", default=64 * 1024, check=positive_int, doc="the webhook's body limit"
    )
    payment_expiry: float = var(
        "PAYMENT_EXPIRY",
        default=180.0,
        check=positive,
        doc="when an unanswered payment is given up (after the order's last change and latest push; at least "
        "`PAYHERO_TIMEOUT` + `PROMPT_WINDOW`)",
    )
    expiry_check_interval: float = var(
        "EXPIRY_CHECK_INTERVAL",
        default=15.0,
        check=positive,
        doc="how often unanswered payments are looked for",
    )
    catalogue_file: Path = var(
        "CATALOGUE_FILE",
        default=DEFAULT_CATALOGUE,
        shown="`server/data/catalogue.json`",
        doc="events (with their `timezone`, default `Africa/Nairobi`, and optional `ends_at`), "
        "ticket types, prices and capacity",
    )
    # Abuse limits: STK pushes per phone number and per client address in a sliding window.
    push_limit_per_phone: int = var(
        "PUSH_LIMIT_PER_PHONE",
        default=3,
        check=non_negative_int,
        doc="STK pushes to one phone number per window; `0` turns the limit off (load tests need that)",
    )
    push_limit_per_ip: int = var(
        "PUSH_LIMIT_PER_IP",
        default=20,
        check=non_negative_int,
        doc="STK pushes from one client address per window; `0` turns the limit off",
    )
    # Unpaid seats one phone, one client address (IPv6 by /64) and one e-mail may hold at once
    # (issue 24): a bot's checkouts to phones that never answer cannot take a whole sale.
    max_unpaid_seats_per_phone: int = var(
        "MAX_UNPAID_SEATS_PER_PHONE",
        default=10,
        check=non_negative_int,
        doc="seats of unpaid (pending/processing) orders one phone number may hold at once; `0` turns it off",
    )
    max_unpaid_seats_per_client: int = var(
        "MAX_UNPAID_SEATS_PER_CLIENT",
        default=40,
        check=non_negative_int,
        doc="seats of unpaid orders one client address (IPv6: its /64) may hold at once; `0` turns it off",
    )
    max_unpaid_seats_per_email: int = var(
        "MAX_UNPAID_SEATS_PER_EMAIL",
        default=0,
        check=non_negative_int,
        doc="seats of unpaid orders one e-mail address may hold at once; `0` (the default) turns it off",
    )
    push_limit_window: float = var(
        "PUSH_LIMIT_WINDOW",
        default=600.0,
        check=positive,
        doc="the sliding window of both push limits, seconds",
    )
    cors_origins: tuple[str, ...] = var(
        "CORS_ORIGINS",
        default=(),
        parse=origins,
        check=lambda values: origins(_text_list(values)),
        shown="unset: no CORS",
        doc="comma-separated origins allowed to call the API from their pages, e.g. "
        "`https://shop.example.com`",
    )
    metrics_token: str | None = var(
        "METRICS_TOKEN",
        default=None,
        parse=str,
        secret=True,
        shown="unset: `/metrics` open",
        doc="when set, `/metrics` wants `Authorization: Bearer <token>`",
    )
    forwarded_allow_ips: tuple[str, ...] = var(
        "FORWARDED_ALLOW_IPS",
        default=DEFAULT_TRUSTED,
        parse=parse_trusted,
        check=lambda values: parse_trusted(_text_list(values)),
        shown=f"loopback and private ranges (`{_text_list(DEFAULT_TRUSTED)}`)",
        doc="which peers' `X-Forwarded-For`/`-Proto` the service believes (addresses or networks, "
        "comma-separated; never `*`, see docs/OPERATIONS.md). Read by the service, not uvicorn "
        "(the Procfile passes `--no-proxy-headers`)",
    )
    gate_tokens: tuple[str, ...] = var(
        "GATE_TOKEN",
        default=(),
        parse=gate_tokens,
        check=long_gate_tokens,
        secret=True,
        shown="unset: check-in refused (`503`), with a warning at start",
        doc="gate staff's tokens for `POST /api/tickets/check-in` (`Authorization: Bearer <token>`), "
        "comma-separated, 16+ characters each; verify stays public",
    )
    gate_grace_after_end: float = var(
        "GATE_GRACE_AFTER_END",
        default=3600.0,
        check=non_negative,
        doc="seconds after an event's `ends_at` that the gate still admits; after it, "
        "check-in answers `event_over`",
    )
    gate_limit_per_ip: int = var(
        "GATE_LIMIT_PER_IP",
        default=120,
        check=non_negative_int,
        doc="ticket verifies and check-ins from one client address per `GATE_LIMIT_WINDOW`; "
        "`0` turns the limit off",
    )
    gate_limit_per_token: int = var(
        "GATE_LIMIT_PER_TOKEN",
        default=600,
        check=non_negative_int,
        doc="check-ins with one gate token per `GATE_LIMIT_WINDOW`; `0` turns the limit off",
    )
    gate_limit_window: float = var(
        "GATE_LIMIT_WINDOW",
        default=60.0,
        check=positive,
        doc="the sliding window of both gate limits, seconds",
    )
    desk_tokens: tuple[tuple[str, str], ...] = var(
        "DESK_TOKEN",
        default=(),
        parse=named_tokens,
        check=long_named_tokens,
        secret=True,
        shown="unset: the organiser's desk is refused (`503`), with a warning at start",
        doc="organisers' tokens for `/desk` and `/api/desk/…` (`Authorization: Bearer <token>`), "
        "as `name:token` pairs, comma-separated, 16+ characters each; the name is recorded with "
        "every action taken at the desk",
    )
    # Fulfilment: ticket codes are HMAC-signed with this key (DESIGN rule 7).
    ticket_signing_key: str = var(
        "TICKET_SIGNING_KEY",
        default="",
        check=long_token,
        secret=True,
        shown="generated once into `DATA_DIR/ticket_signing_key` (0600)",
        doc="HMAC key of ticket codes, 32+ characters; the same on every host and every restart "
        "(required in live: a key made into `DATA_DIR` would not survive a platform's disk)",
    )
    ticket_signing_keys: tuple[str, ...] = var(
        "TICKET_SIGNING_KEYS",
        default=(),
        parse=comma_separated,
        check=long_signing_keys,
        secret=True,
        shown="unset: `TICKET_SIGNING_KEY` alone",
        doc="key rotation: comma-separated HMAC keys, 32+ characters each; new tickets are signed "
        "with the first, a ticket signed with any of them verifies. Replaces `TICKET_SIGNING_KEY`",
    )
    smtp_url: str | None = var(
        "SMTP_URL",
        default=None,
        parse=smtp_url,
        check=smtp_url,
        secret=True,
        shown="unset: e-mails are written as `.eml` files under `DATA_DIR/outbox/`",
        doc="`smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (implicit TLS)",
    )
    smtp_timeout: float = var(
        "SMTP_TIMEOUT", default=30.0, check=positive, doc="seconds one SMTP attempt may take"
    )
    mail_from: str = var(
        "MAIL_FROM",
        default="Tickets <tickets@localhost>",
        parse=mail_from,
        check=mail_from,
        doc="the From of every e-mail; its domain also names Message-IDs",
    )
    # The outbox worker: a slow poll beside the wake-up after each commit, retries that
    # double from the base up to the max, and a lease that outlives one SMTP attempt so
    # two processes never send the same row at the same time.
    outbox_poll_interval: float = var(
        "OUTBOX_POLL_INTERVAL",
        default=30.0,
        check=positive,
        doc="seconds between the outbox worker's polls (it is also woken after every payment)",
    )
    outbox_retry_base: float = var(
        "OUTBOX_RETRY_BASE", default=5.0, check=positive, doc="first retry delay after a failed send, seconds"
    )
    outbox_retry_max: float = var(
        "OUTBOX_RETRY_MAX",
        default=3600.0,
        derive=lambda v: max(3600.0, v.of("outbox_retry_base", float)),
        check=positive,
        shown="`3600` (at least `OUTBOX_RETRY_BASE`)",
        doc="the cap of the doubling retry delay",
    )
    outbox_lease: float = var(
        "OUTBOX_LEASE",
        default=120.0,
        derive=lambda v: max(120.0, 4 * v.of("smtp_timeout", float)),
        check=positive,
        shown="`120` (at least 4 x `SMTP_TIMEOUT`)",
        doc="how long a claimed row is reserved for its sender; must exceed `SMTP_TIMEOUT`",
    )
    mail_compose_processes: int = var(
        "MAIL_COMPOSE_PROCESSES",
        default=1,
        check=non_negative_int,
        doc="processes that compose e-mails (QR images are CPU work kept off the event loop); `0` "
        "composes in a thread of the service",
    )

    def __post_init__(self) -> None:
        problems = check_all(self, DECLARED) + rule_problems(self)
        if problems:
            raise SettingsError(*problems)

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
    def signing_keys(self) -> tuple[str, ...]:
        """The key that signs first, then every other key a ticket may have been signed with."""
        return self.ticket_signing_keys or (self.ticket_signing_key,)

    @property
    def broker_kind(self) -> str:
        if not self.redis_url:
            # Several workers without Redis: PostgreSQL's LISTEN/NOTIFY carries the changes.
            return "postgres" if self.store_kind == "postgresql" else "memory"
        return "redis-cluster" if self.redis_cluster else "redis"

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this process holds, for the log redaction to look for."""
        candidates = [self.callback_token, self.payhero_password, self.metrics_token, self.ticket_signing_key]
        candidates += self.gate_tokens
        candidates += [token for _, token in self.desk_tokens]
        candidates += self.ticket_signing_keys
        for url in (self.database_url, self.redis_url, self.smtp_url):
            password = urlsplit(url).password if url else None
            if password:
                candidates += [password, unquote(password)]
        return tuple(sorted({value for value in candidates if value}, key=len, reverse=True))

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed, checked as the environment's values are."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def resolve_secrets(self) -> Settings:
        """The callback token and ticket signing key the environment left unset, made once and
        kept under DATA_DIR (or read from there). Called at start-up by the app and the command
        line, so that parsing writes no file; returns `self` when nothing is missing."""
        token = self.callback_token or kept_secret(self.data_dir, "callback_token")
        key = self.ticket_signing_key or (
            self.ticket_signing_keys[0]
            if self.ticket_signing_keys
            else kept_secret(self.data_dir, "ticket_signing_key")
        )
        if (token, key) == (self.callback_token, self.ticket_signing_key):
            return self
        return replace(self, callback_token=token, ticket_signing_key=key)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from `environ` (default: the process environment) over `.env`."""
        lookup = env_lookup(os.environ if environ is None else environ, dotenv)
        settings, problems = parse_each(cls, lookup)
        try:
            credentials_need_live(settings)
        except SettingsError as refused:
            problems += refused.problems
        if problems:
            raise SettingsError(*problems)
        return settings


DECLARED = tuple(declared(Settings))
