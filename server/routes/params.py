"""Parsing of query parameters and headers into typed values, with JSON 400s on nonsense."""

from __future__ import annotations

import math
import re

from starlette.types import Scope

from server.http_errors import ApiError

# Versions are SQL integers; anything larger is not a version this service handed out.
MAX_VERSION = 2**31 - 1
# Order and ticket ids are `secrets.token_urlsafe` output. Anything else cannot be one, and is
# turned away before it reaches the database (PostgreSQL refuses a NUL byte with an error, a 500).
_OPAQUE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SECONDS = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?")


def opaque_id_shaped(raw: str) -> bool:
    return _OPAQUE_ID.fullmatch(raw) is not None


def optional_version(raw: str | None, name: str) -> int | None:
    """A version, or None where the value is absent or empty (API.md). Nothing else is read
    loosely: a query value of only whitespace ("%0D") is a 400, as the OpenAPI schema says; a
    header's surrounding whitespace is HTTP's, and `scope_header` strips it."""
    if raw is None or raw == "":
        return None
    text = raw
    # isascii() first: str.isdigit() also accepts '²' and other digits int() refuses (a 500).
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_VERSION:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} must be a non-negative integer version",
            fields={name: "must be a non-negative integer"},
        )
    return int(text)


def timeout_seconds(raw: str | None, *, default: float, cap: float) -> float:
    """The requested hold, capped by the server; absent means the default."""
    if raw is None or raw == "":
        return default
    # A plain ASCII number only: float() alone also takes "1_0", fullwidth digits, "infinity",
    # and whitespace around it, which the OpenAPI schema does not.
    text = raw
    value = float(text) if _SECONDS.fullmatch(text) else math.nan
    if not math.isfinite(value) or value < 0:
        raise ApiError(
            400,
            "invalid_parameter",
            "timeout must be a number of seconds, 0 or more",
            fields={"timeout": "must be a number of seconds, 0 or more"},
        )
    return min(value, cap)


def scope_header(scope: Scope, name: bytes) -> str | None:
    """A request header straight from an ASGI scope (the fast paths have no Request), without
    the optional whitespace HTTP allows around a field value (RFC 9110, 5.5)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1")).strip(" \t")
    return None
