"""Sliding-window counters: Redis when there is one (shared by every process), memory otherwise.

Each key keeps a log of the moments it admitted something (a sorted set in Redis, a deque
here) and admits at most `limit` in any `window` seconds. Unlike a fixed window reset on the
clock, it allows no double burst around a boundary; and refused attempts are not logged, so
hammering a limit does not lengthen the wait of whoever it protects.

A take over several quotas is all-or-nothing: a push refused for its client address must not
use up the phone number's allowance, and the other way round.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from server.broker.redis_health import REDIS_DOWN, RedisHealth

log = logging.getLogger("server.abuse")

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


# Atomic across processes. KEYS: one per quota. ARGV: member, then limit and window (ms) per
# key. Redis's own clock, so hosts with skewed clocks agree. Returns {refused index or 0, ms}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused, wait = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local edge = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local free_in = tonumber(edge[2]) + window - now
    if free_in > wait then refused, wait = i, free_in end
  end
end
if refused > 0 then return {refused, wait} end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]))
end
return {0, 0}
"""


class _ClientOptions(TypedDict):
    """redis-py's options for the limiter's client: no retries, short timeouts."""

    socket_connect_timeout: float
    socket_timeout: float
    retry: Retry
    health_check_interval: int
    max_connections: int


class RedisWindows(Windows):
    """Windows every process shares; falls back to memory while Redis is unreachable."""

    def __init__(self, url: str, *, health: RedisHealth | None = None, cluster: bool = False) -> None:
        # After Redis fails, memory counts until it answers again (RedisHealth's cool-off),
        # so an outage costs checkouts one failed attempt, not a timeout each; and the
        # broker's publish skips a Redis the limiter found hung, and the other way round.
        self.health = health or RedisHealth()
        # No library retries and short timeouts: a checkout must not wait long on a limiter.
        options: _ClientOptions = {
            "socket_connect_timeout": self.health.timeout,
            "socket_timeout": self.health.timeout,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
            "max_connections": 16,
        }
        # On a cluster the script runs on the shard serving its keys, which must share one
        # slot: every key carries the same hash tag (server/orders/push_limits.py).
        self._client: Any = (
            RedisCluster.from_url(url, require_full_coverage=False, **options)
            if cluster
            else aioredis.from_url(url, **options)
        )
        self._sha = self._client.register_script(_TAKE).sha
        self._fallback = MemoryWindows()
        # Read by /metrics: how often Redis failed and memory counted instead.
        self.fallbacks = 0

    async def take(self, quotas: Sequence[Quota]) -> Taken | Refused:
        if not self.health.answering():
            return await self._fallback.take(quotas)
        member = secrets.token_hex(8)
        args: list[Any] = [member]
        for quota in quotas:
            args += [quota.limit, max(1, int(quota.window * 1000))]
        try:
            refused, wait_ms = await self._run_take([q.key for q in quotas], args)
        except REDIS_DOWN as exc:
            self.fallbacks += 1
            self.health.failed("push limit", exc)
            return await self._fallback.take(quotas)
        self.health.succeeded()
        if int(refused) > 0:
            return Refused(quotas[int(refused) - 1], int(wait_ms) / 1000)
        return Taken(tuple(q.key for q in quotas), member)

    async def start(self) -> None:
        if not isinstance(self._client, RedisCluster):
            return
        # Every master is learnt now, while the node REDIS_URL names answers: the client
        # then asks the others for the slot map when that one is down.
        try:
            await asyncio.wait_for(self._client.initialize(), 2 * self.health.timeout)
        except REDIS_DOWN as exc:
            log.warning("push limit: redis cluster unreachable at start (%s)", exc)

    async def _run_take(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            # Not loaded there yet (a fresh or restarted master). EVAL loads it on the
            # master serving these keys only: SCRIPT LOAD, as redis-py's Script does, goes
            # to every master on a cluster, and failed whenever any one was down.
            return await self._client.eval(_TAKE, len(keys), *keys, *args)

    async def give_back(self, taken: Taken) -> None:
        if taken.local:
            await self._fallback.give_back(taken)
            return
        if not self.health.answering():
            return  # only generosity is lost, as below; a hung Redis is not waited for again
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in taken.keys:
                    pipe.zrem(key, taken.member)
                await pipe.execute()
        except REDIS_DOWN as exc:
            # Only generosity is lost: the entry expires with its window.
            self.health.failed("push limit give-back", exc)
            log.warning("push limit: could not give back a take: %s", exc)

    async def aclose(self) -> None:
        await self._client.aclose()
