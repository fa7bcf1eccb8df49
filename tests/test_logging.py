"""The log format and the redaction every line goes through."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.logs import _WHERE_SECRETS_SIT, JsonFormatter, RedactingFormatter, mask_url, redact
from server.settings import Settings, SettingsError
from tests.server_harness import run_server


def record(
    message: str, *args: object, exc: BaseException | None = None, **extra: object
) -> logging.LogRecord:
    made = logging.LogRecord("server.test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        made.exc_info = (type(exc), exc, exc.__traceback__)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_json_lines_carry_extra_fields_and_tracebacks() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        line = JsonFormatter().format(
            record("request %s", "GET", exc=exc, route="/api/orders/{order_id}", status=200)
        )
    entry = json.loads(line)
    assert entry["message"] == "request GET" and entry["logger"] == "server.test"
    assert entry["route"] == "/api/orders/{order_id}" and entry["status"] == 200
    assert "RuntimeError: boom" in entry["exception"]


def test_secrets_are_blanked_in_messages_arguments_and_tracebacks() -> None:
    secret = 'pa"ss\\word-1234'  # JSON escapes the quote and the backslash
    try:
        raise ValueError(f"could not connect with {secret}")
    except ValueError as exc:
        for inner in (JsonFormatter(), logging.Formatter("%(message)s")):
            formatter = RedactingFormatter(inner, [secret, ""])
            line = formatter.format(record("url=%s", f"postgres://u:{secret}@h/db", exc=exc))
            assert "word-1234" not in line and "***" in line


LINES_WITH_SECRETS = [
    # (a line as the service or a library writes it, the secret in it, what must remain)
    (
        "store=postgresql (postgresql+asyncpg://svc:s3cr3t@db:5432/pay)",
        "s3cr3t",
        "postgresql+asyncpg://svc:***@db",
    ),
    ("redis subscriber lost: redis://:hunter2@cache:6379/0", "hunter2", "redis://:***@cache:6379/0"),
    ("smtp via smtps://mailer:pw-1@smtp.example.org:465", "pw-1", "smtps://mailer:***@smtp.example.org"),
    ("request headers {'authorization': 'Basic YXBpOmE='}", "YXBpOmE=", "'authorization': 'Basic ***'"),
    ("send_request_headers [(b'Authorization', b'Bearer mt-77')]", "mt-77", "b'Bearer ***'"),
    ("Authorization: Bearer mt-77", "mt-77", "Authorization: Bearer ***"),
    (
        '127.0.0.1:5000 - "POST /api/payhero/callback/cb-tok HTTP/1.1" 200',
        "cb-tok",
        "/api/payhero/callback/***",
    ),
    ('config {"callback_token": "cb-tok", "port": 8000}', "cb-tok", '"callback_token": "***"'),
    ("login with password=pa55 failed", "pa55", "password=***"),
]


def test_secrets_are_blanked_where_they_sit_whatever_their_value() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), [])
    for line, secret, kept in LINES_WITH_SECRETS:
        redacted = formatter.format(record("%s", line))
        assert secret not in redacted and kept in redacted, (line, redacted)


def _redact_without_needles(line: str) -> str:
    for pattern, replacement, _ in _WHERE_SECRETS_SIT:
        line = pattern.sub(replacement, line)
    return line


# Pieces of lines that come near a pattern, and letters IGNORECASE matches beyond ASCII
# (the Kelvin sign matches k, the long s matches s).
_FRAGMENTS = "://u: p@h Authorization /api/payhero/callback/t PASSWORD= passwd: Secret token".split()
_FRAGMENTS += [*"api-key= signing_key= ecret= Bearer = : ' \" x é \u212a \u017f".split(), " "]


@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8)).map("".join))
def test_the_needle_check_skips_only_patterns_that_could_not_match(line: str) -> None:
    # The check is what keeps redaction cheap on every line; it must never leave a secret.
    assert redact(line) == _redact_without_needles(line)
    for known, _, _ in LINES_WITH_SECRETS:
        assert redact(known) == _redact_without_needles(known)


def test_short_or_common_secrets_never_blank_other_words() -> None:
    # A database password `postgres` and a one-letter metrics token, as a sandbox may have.
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://postgres:postgres@db/pay", "METRICS_TOKEN": "a"}, dotenv=None
    )
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), settings.secret_values())
    # The start-up line, as server/app.py writes it.
    line = formatter.format(
        record("store=%s (%s) payhero=%s", "postgresql", mask_url(settings.database_url), "sandbox")
    )
    assert line == "store=postgresql (postgresql+asyncpg://postgres:***@db/pay) payhero=sandbox"


def test_live_mode_refuses_secrets_shorter_than_8_characters() -> None:
    live = {
        "PAYHERO_MODE": "live",
        "PAYHERO_API_USERNAME": "api-user",
        "PAYHERO_API_PASSWORD": "api-secret",
        "PAYHERO_CHANNEL_ID": "4242",
        "PUBLIC_BASE_URL": "https://pay.example.com",
        "CALLBACK_TOKEN": "c" * 32,
        "TICKET_SIGNING_KEY": "s" * 32,
    }
    assert Settings.from_env(live, dotenv=None).payhero_mode == "live"
    for name, value in [
        ("PAYHERO_API_PASSWORD", "a"),
        ("METRICS_TOKEN", "m-1234"),
        ("DATABASE_URL", "postgresql://svc:pg@db/pay"),
        ("REDIS_URL", "redis://:r3d@cache:6379/0"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**live, name: value}, dotenv=None)
    # The sandbox takes a developer's short passwords as they are.
    assert Settings.from_env({"DATABASE_URL": "postgresql://svc:pg@db/pay"}, dotenv=None).sandbox


@pytest.mark.postgres
async def test_the_start_up_line_keeps_a_database_password_postgres_hidden_and_readable(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings("postgres", "memory", log_level="INFO")
    # The test server trusts local connections: the password is accepted and ignored.
    settings = settings.with_overrides(
        database_url=settings.database_url.replace("//postgres@", "//postgres:postgres@")
    )
    async with run_server(settings):
        pass
    err = capsys.readouterr().err
    assert "store=postgresql (postgresql+asyncpg://postgres:***@127.0.0.1" in err
    assert "***ql" not in err
