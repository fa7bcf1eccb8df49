"""The log format and the redaction every line goes through."""

from __future__ import annotations

import json
import logging

from server.logs import JsonFormatter, RedactingFormatter


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
