"""Sliding windows in Redis, shared by every process; memory counts while Redis does not answer.

Apart from the memory windows (server/abuse/rate_windows.py) so that only a process with a
Redis URL loads redis-py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from typing import Any, TypedDict

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from server.abuse.rate_windows import MemoryWindows, Quota, Refused, Taken, Windows
from server.broker.redis_down import REDIS_DOWN
from server.broker.redis_health import RedisHealth

log = logging.getLogger("server.abuse")


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
            async with asyncio.timeout(2 * self.health.timeout):
                await self._client.initialize()
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
