"""The service's clock: epoch milliseconds, as every stored time is kept, and their ISO text."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["iso_from_ms", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# The text of the last second formatted: a payment's documents and e-mails name the same
# second two or three times, and strftime costs ~4 µs where this costs ~0.5.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00.")


def iso_from_ms(ms: int) -> str:
    """`2026-12-07T15:32:50.131Z`: UTC, to the millisecond."""
    global _last_second
    second, text = _last_second
    if ms // 1000 != second:
        second = ms // 1000
        text = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        # One tuple, swapped whole: a thread formatting at the same moment reads either.
        _last_second = (second, text)
    return f"{text}{ms % 1000:03d}Z"
