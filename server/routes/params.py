"""Parsing of query parameters and headers into typed values, with JSON 400s on nonsense."""

from __future__ import annotations

import math

from server.errors import ApiError

# Versions are SQL integers; anything larger is not a version this service handed out.
MAX_VERSION = 2**31 - 1


def optional_version(raw: str | None, name: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_VERSION:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} must be a non-negative integer version",
            fields={name: "must be a non-negative integer"},
        )
    return int(text)


def timeout_seconds(raw: str | None, *, default: float, cap: float) -> float:
    """The requested hold, capped by the server; absent means the default."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ApiError(
            400,
            "invalid_parameter",
            "timeout must be a number of seconds, 0 or more",
            fields={"timeout": "must be a number of seconds, 0 or more"},
        )
    return min(value, cap)
