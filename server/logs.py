"""Logging set-up, and the masking every log line with customer data goes through."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime


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
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("server")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
