"""Logging set-up, and the masking every log line with customer data goes through."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Loggers that always write through our handler. httpx logs every request URL at INFO, the
# sandbox's callback URL (with its secret) among them.
_OWN_LOGGERS = ("server", "httpx")
# uvicorn's, once uvicorn has configured them. uvicorn.error propagates to uvicorn.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.access")


def mask_phone(phone: str | None) -> str:
    """`254712345678` -> `2547*****678`: enough to tell numbers apart, not to dial one."""
    if not phone:
        return "-"
    digits = phone.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 7) + digits[-3:]


def mask_email(email: str | None) -> str:
    """`amina@example.com` -> `a****@example.com`: which mailbox provider, not whose mailbox."""
    if not email or "@" not in email:
        return "-"
    local, _, domain = email.rpartition("@")
    return local[:1] + "*" * max(len(local) - 1, 3) + "@" + domain


def mask_url(url: str) -> str:
    """Hide the password of a `scheme://user:password@host/...` URL."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured fields passed with `extra=` (the request log's method, route, status...).
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and k != "taskName")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RedactingFormatter(logging.Formatter):
    """Blanks every secret out of a finished line: message, arguments, traceback alike.

    On the finished line, so that no code path (a library's URL in a message, an exception
    text) can get around it. Each secret is looked for as written and as JSON escapes it.
    """

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = {form for secret in secrets if secret for form in (secret, json.dumps(secret)[1:-1])}
        self.secrets = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "***")
        return line


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send the service's, uvicorn's and httpx's lines through one handler: one format, redacted.

    Safe to call again: uvicorn builds its own handlers when its Config is made, which in
    tests and programmatic runs happens after the app; the lifespan calls this once more.
    """
    handler = logging.StreamHandler()
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter()
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner, secrets))
    for name in _OWN_LOGGERS + _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        # uvicorn's --no-access-log leaves uvicorn.access without handlers: keep it silent.
        if name in _OWN_LOGGERS or logger.handlers:
            logger.handlers[:] = [handler]
            logger.propagate = False
    logging.getLogger("server").setLevel(level)
    # One line per PayHero request is noise unless debugging; failures surface as our warnings.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
