"""Sliding-window counters: Redis when there is one (shared by every process,
server/abuse/redis_windows.py), memory otherwise.

Each key keeps a log of the moments it admitted something (a sorted set in Redis, a deque
here) and admits at most `limit` in any `window` seconds. Unlike a fixed window reset on the
clock, it allows no double burst around a boundary; and refused attempts are not logged, so
hammering a limit does not lengthen the wait of whoever it protects.

A take over several quotas is all-or-nothing: a push refused for its client address must not
use up the phone number's allowance, and the other way round.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Memory windows sweep idle keys every this many takes.
SWEEP_EVERY = 1024


@dataclass(frozen=True)
class Quota:
    name: str  # what it limits, for the caller ("phone", "ip")
    key: str
    limit: int
    window: float


@dataclass(frozen=True)
class Refused:
    quota: Quota
    retry_after: float  # seconds until one more would be admitted


@dataclass(frozen=True)
class Taken:
    keys: tuple[str, ...]
    member: str
    local: bool = False  # counted in memory because Redis was unreachable


class Windows(ABC):
    @abstractmethod
    async def take(self, quotas: Sequence[Quota]) -> Taken | Refused:
        """Admit one under every quota, or none and say which quota refused."""

    @abstractmethod
    async def give_back(self, taken: Taken) -> None:
        """Undo a take whose action did not happen after all."""

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MemoryWindows(Windows):
    """One process's windows: right for a single process, a fallback for several."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logs: dict[str, deque[tuple[float, str]]] = {}
        self._longest = 0.0
        self._takes = 0

    async def take(self, quotas: Sequence[Quota]) -> Taken | Refused:
        now = self._clock()
        refused: Refused | None = None
        for quota in quotas:
            entries = self._logs.get(quota.key)
            if entries is None:
                continue
            while entries and entries[0][0] <= now - quota.window:
                entries.popleft()
            if len(entries) >= quota.limit:
                # The entry whose expiry brings the count back under the limit.
                wait = entries[len(entries) - quota.limit][0] + quota.window - now
                if refused is None or wait > refused.retry_after:
                    refused = Refused(quota, wait)
        if refused is not None:
            return refused
        member = secrets.token_hex(8)
        for quota in quotas:
            self._logs.setdefault(quota.key, deque()).append((now, member))
            self._longest = max(self._longest, quota.window)
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        return Taken(tuple(q.key for q in quotas), member, local=True)

    async def give_back(self, taken: Taken) -> None:
        for key in taken.keys:
            entries = self._logs.get(key)
            if entries is not None:
                self._logs[key] = deque(e for e in entries if e[1] != taken.member)

    def _sweep(self, now: float) -> None:
        # Keys whose newest entry is older than any window: nothing in them counts any more.
        idle = [
            key for key, entries in self._logs.items() if not entries or entries[-1][0] <= now - self._longest
        ]
        for key in idle:
            del self._logs[key]
