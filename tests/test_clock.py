"""The ISO text of a stored time: the same whichever second was formatted before it."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from server.clock import iso_from_ms

# 1970 to 2200: every time the service stores (epoch milliseconds).
MOMENTS = st.integers(min_value=0, max_value=7_258_118_400_000)


def as_datetime_writes_it(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@given(st.lists(MOMENTS | st.sampled_from([0, 999, 1000, 1_796_657_570_131]), min_size=1, max_size=20))
def test_each_moment_is_written_as_datetime_writes_it(moments: list[int]) -> None:
    # In any order: the same second again, the next, one before.
    for ms in moments + [ms + 1 for ms in moments] + [ms - 1 for ms in moments if ms > 0]:
        assert iso_from_ms(ms) == as_datetime_writes_it(ms)
