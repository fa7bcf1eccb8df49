"""Redis pub/sub broker: one subscriber connection per process, whatever the waiters.

The subscriber connection is a `SubscriberStream` (`stream.py`); this module holds what a
plain Redis and a Redis Cluster (`cluster.py`) share: publishing with the latest-status key,
reading it back, and the health verdict on the request path (`health.py`).
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any, TypedDict

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from server.broker.base import LATEST_TTL_SECONDS, Broker, BrokerListener, BrokerUnavailable
from server.broker.redis_down import REDIS_DOWN
from server.broker.redis_health import RedisHealth
from server.broker.stream import SUBSCRIBER_TIMEOUT, SubscriberStream

log = logging.getLogger("server.broker")


class ClientOptions(TypedDict):
    """redis-py's connection options the service sets on every client it makes."""

    client_name: str
    socket_connect_timeout: float
    socket_timeout: float
    retry: Retry
    health_check_interval: int


def client_options(client_name: str, *, retries: int, timeout: float) -> ClientOptions:
    """Options for every connection this process makes to Redis, plain or cluster."""
    return {
        "client_name": client_name,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        # Retried on a dropped connection only: a timeout retried would double the wait.
        "retry": Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
        "health_check_interval": 0,
    }


class RedisBroker(Broker):
    kind = "redis"
    # SPUBLISH on a cluster, so a message travels to its channel's shard only.
    publish_command = "publish"

    def __init__(
        self,
        url: str,
        *,
        client_name: str | None = None,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        max_connections: int = 16,
        health: RedisHealth | None = None,
    ) -> None:
        self.client_name = client_name or f"payment-status:{os.getpid()}:{random.getrandbits(32):08x}"
        self._url = url
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        # Shared with the push limits: a Redis that stops answering is skipped by both.
        self.health = health or RedisHealth()
        self._max_connections = max_connections
        self._client: Any = None
        self._stream: SubscriberStream | None = None
        self._listener: BrokerListener | None = None

    @property
    def reconnects(self) -> int:
        return self._stream.reconnects if self._stream is not None else 0

    @property
    def connected(self) -> bool:
        return self._stream is not None and self._stream.connected

    async def connect(self, listener: BrokerListener) -> None:
        self._listener = listener
        # Commands retry once: after Redis restarts, the pool's idle connections are dead
        # and the first command on each would fail. The one subscriber connection has no
        # library retries: a drop must surface in its task, where it is handled once.
        self._client = aioredis.from_url(
            self._url,
            max_connections=self._max_connections,
            **client_options(self.client_name, retries=1, timeout=self.health.timeout),
        )
        subscriber = aioredis.from_url(
            self._url,
            max_connections=1,
            **client_options(self.client_name, retries=0, timeout=SUBSCRIBER_TIMEOUT),
        )
        self._stream = self.new_stream(subscriber, "redis", sharded=False)
        # Give a healthy Redis a moment so the service starts subscribed; a dead one
        # must not stop the service from starting (it serves from the store meanwhile).
        if not await self._stream.wait_connected(2.0):
            self.warn_unreachable()

    def new_stream(
        self,
        client: aioredis.Redis,
        name: str,
        *,
        sharded: bool,
        health: RedisHealth | None = None,
        **options: Any,
    ) -> SubscriberStream:
        assert self._listener is not None
        stream = SubscriberStream(
            client,
            self._listener,
            health or self.health,
            name=name,
            sharded=sharded,
            reconnect_min=self._reconnect_min,
            reconnect_max=self._reconnect_max,
            **options,
        )
        stream.start()
        return stream

    @staticmethod
    def warn_unreachable() -> None:
        log.warning("redis unreachable at start; serving from the store until it is back")

    async def disconnect(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def subscribe(self, channel: str) -> None:
        if self._stream is not None:
            await self._stream.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        if self._stream is not None:
            await self._stream.unsubscribe(channel)

    async def publish(self, channel: str, message: str, *, latest: str | None = None) -> None:
        if self._client is None or not self.connected:
            # Known down: fail at once instead of a connect attempt on the callback's path.
            raise BrokerUnavailable("redis is down")
        await self._publish_judged(self.health, "publish", channel, message, latest)

    async def _publish_judged(
        self, health: RedisHealth, what: str, channel: str, message: str, latest: str | None
    ) -> None:
        """Publish unless `health` says skip; its verdict records how it went."""
        if not health.answering():
            raise BrokerUnavailable("redis is not answering")
        try:
            await self._send(channel, message, latest)
        except REDIS_DOWN as exc:
            health.failed(what, exc)
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        self._answered(health)

    async def _send(self, channel: str, message: str, latest: str | None) -> None:
        """The message and its latest-status key, in one round trip."""
        async with self._client.pipeline(transaction=False) as pipe:
            getattr(pipe, self.publish_command)(channel, message)
            if latest is not None:
                pipe.set(latest, message, ex=LATEST_TTL_SECONDS)
            await pipe.execute()

    async def ping(self) -> bool:
        if self._client is None or not self.connected or not self.health.answering():
            return False
        try:
            answer = await self._ping()
        except REDIS_DOWN as exc:
            self.health.failed("ping", exc)
            return False
        self._answered()
        return answer

    async def _ping(self) -> bool:
        return bool(await self._client.ping())

    def _answered(self, health: RedisHealth | None = None) -> None:
        if (health or self.health).succeeded() and self._listener is not None:
            # Whatever other processes published while it hung may be lost: re-read.
            self._listener.resync()
