"""When an event is on sale, when it is over, and how the demo event stays in the future.

Sales end at the event's `sales_end` (default: its start): after that checkout is refused
(`409 sales_closed`) and the checkout page says so before anyone types. The event is over
at its `ends_at` (default: its start), and its ticket page says so.

An event with `"rolls": "yearly"` (the demo catalogue's) repeats every year: at start its
dates move forward by whole years until its sales have not ended, so `make run` always
serves an event on sale, whatever the day. Its day and time stay as written.
"""

from __future__ import annotations

from datetime import UTC, datetime

YEARLY = "yearly"
ROLLS = ("", YEARLY)


def moment(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset (the catalogue checked the offset at load)."""
    return datetime.fromisoformat(text)


def _plus_years(text: str, years: int) -> str:
    if not text:
        return text
    at = moment(text)
    try:
        return at.replace(year=at.year + years).isoformat()
    except ValueError:  # 29 February in a year without one: the day after
        return at.replace(year=at.year + years, month=3, day=1).isoformat()


def rolled_forward(starts_at: str, ends_at: str, sales_end: str, now: datetime) -> tuple[str, str, str]:
    """The three moments moved by the fewest whole years that leaves sales open at `now`."""
    closes = sales_end or starts_at
    years = 0
    while moment(_plus_years(closes, years)) <= now:
        years += 1
    return _plus_years(starts_at, years), _plus_years(ends_at, years), _plus_years(sales_end, years)


def now_utc() -> datetime:
    return datetime.now(UTC)
